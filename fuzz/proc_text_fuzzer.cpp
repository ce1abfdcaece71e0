// libFuzzer target: untrusted /proc and pid-file text through the pure parsers that read it -
// host-agent/threads/ (parse_pid, split_cmdline, guest_name_of, is_domain_qemu,
// vcpu_index_of_thread_name), parse_task_stat (host-agent/counters/thread_watch.hpp) - and
// printable (util/printable.hpp), which every message quoting such text goes through. The
// readers that open the files (read_bounded, list_pids, locate_qemu_process,
// scan_vcpu_threads, ThreadWatch) are not fuzzed: they only hand these the bytes.
// Every input is, at once, a /proc/<tid>/stat, a cmdline (each argument too: a -name value,
// a comm, a pid), a comm and a pid file. Checks, beyond "no crash, no leak, no exception":
//   - parse_pid accepts only the canonical spelling of a pid in 1..INT_MAX;
//   - vcpu_index_of_thread_name accepts only "CPU <n>/KVM" or "CPU <n>/TCG", n canonical;
//   - split_cmdline loses nothing: its arguments joined by NULs give the bytes back;
//   - a guest name read from a -name value is not empty, and written back as libvirt writes
//     it ("guest=" + commas doubled + ",debug-threads=on") reads back the same; a QEMU command
//     line with that name and a UUID is that domain's QEMU, under any case of the UUID;
//   - a task stat parsed has a state that is one byte other than a blank;
//   - printable's output has no control character, DEL or invalid UTF-8, stays within its
//     bound (+ "...") and unescapes to the text (or, cut short, to a prefix of it).
// Input: the bytes, nothing else (seeds: fuzz/make_seed_corpus.py).
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "host-agent/counters/thread_watch.hpp"
#include "host-agent/threads/proc_files.hpp"
#include "host-agent/threads/qemu_process.hpp"
#include "host-agent/threads/vcpu_threads.hpp"
#include "util/printable.hpp"

using namespace perfkvm::host;

namespace {

constexpr std::string_view kUuid = "6f1c2b9e-4d3a-4c8e-9b2f-1a7d5e3c9f04";
constexpr std::string_view kUuidUpper = "6F1C2B9E-4D3A-4C8E-9B2F-1A7D5E3C9F04";

void check(bool condition) {
  if (!condition) std::abort();
}

void check_pid(std::string_view text) {
  if (const auto pid = proc::parse_pid(text)) {
    check(*pid >= 1);
    check(std::to_string(*pid) == text);
  }
}

void check_thread_name(std::string_view comm) {
  if (const auto vcpu = vcpu_index_of_thread_name(comm)) {
    const std::string canonical = "CPU " + std::to_string(*vcpu);
    check(comm == canonical + "/KVM" || comm == canonical + "/TCG");
  }
}

std::string as_libvirt_writes(std::string_view guest) {
  std::string option = "guest=";
  for (const char c : guest) option += c == ',' ? std::string(",,") : std::string(1, c);
  return option + ",debug-threads=on";
}

void check_guest_name(std::string_view name_option) {
  const auto guest = guest_name_of(name_option);
  if (!guest) return;
  check(!guest->empty());
  const std::string written = as_libvirt_writes(*guest);
  check(guest_name_of(written) == guest);
  const std::vector<std::string> argv = {"/usr/bin/qemu-system-x86_64", "-name", written,
                                         "-uuid", std::string(kUuidUpper)};
  check(is_domain_qemu(argv, *guest, kUuid));
}

void check_cmdline(std::string_view bytes) {
  const auto argv = split_cmdline(bytes);
  std::string joined;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    if (i > 0) joined += '\0';
    joined += argv[i];
  }
  if (!bytes.empty() && bytes.back() == '\0') joined += '\0';
  check(joined == bytes);
  // The fixtures' domain (tests/data/threads): a match or not, it must not crash.
  static_cast<void>(is_domain_qemu(argv, "web1", kUuid));
  for (const auto& arg : argv) {
    check_pid(arg);
    check_thread_name(arg);
    check_guest_name(arg);
  }
}

void check_task_stat(std::string_view text) {
  const auto stat = parse_task_stat(text);
  if (!stat) return;
  check(stat->state != ' ' && stat->state != '\n');
  const auto close = text.rfind(')');
  check(close != std::string_view::npos && text.substr(close + 1, 2) == std::string{' ', stat->state});
}

// Undoes printable's escapes; nullopt for a backslash that does not start "\xNN".
std::optional<std::string> unescaped(std::string_view text) {
  const auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t at = 0; at < text.size(); ++at) {
    if (text[at] != '\\') {
      out += text[at];
      continue;
    }
    if (at + 3 >= text.size() || text[at + 1] != 'x') return std::nullopt;
    const int high = hex(text[at + 2]);
    const int low = hex(text[at + 3]);
    if (high < 0 || low < 0) return std::nullopt;
    out += static_cast<char>(high * 16 + low);
    at += 3;
  }
  return out;
}

bool is_valid_utf8(std::string_view text) {
  for (std::size_t at = 0; at < text.size();) {
    const auto lead = static_cast<unsigned char>(text[at]);
    std::size_t length = 1;
    std::uint32_t code = lead;
    if (lead >= 0x80) {
      if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2, code = lead & 0x1F;
      } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3, code = lead & 0x0F;
      } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4, code = lead & 0x07;
      } else {
        return false;
      }
      if (at + length > text.size()) return false;
      for (std::size_t i = 1; i < length; ++i) {
        const auto byte = static_cast<unsigned char>(text[at + i]);
        if ((byte & 0xC0) != 0x80) return false;
        code = code << 6 | (byte & 0x3F);
      }
      const std::uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
      if (code < least[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
        return false;
      }
    }
    at += length;
  }
  return true;
}

void check_printable(std::string_view text, std::size_t max_bytes) {
  const std::string shown = perfkvm::printable(text, max_bytes);
  check(is_valid_utf8(shown));
  for (const char c : shown) check(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
  if (const auto back = unescaped(shown); back && *back == text) return;
  // Cut short: within the bound, then "...", and what is shown is the text's beginning.
  check(shown.size() >= 3 && shown.size() <= max_bytes + 3);
  check(std::string_view(shown).substr(shown.size() - 3) == "...");
  const auto back = unescaped(std::string_view(shown).substr(0, shown.size() - 3));
  check(back && back->size() < text.size() && text.starts_with(*back));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check_task_stat(text);
  check_cmdline(text);
  // A comm file: the name and the kernel's newline, as scan_vcpu_threads strips it.
  std::string_view comm = text;
  if (comm.ends_with('\n')) comm.remove_suffix(1);
  check_thread_name(comm);
  // A pid file: the pid and trailing newlines or blanks, as check_pid_file strips them.
  std::string_view pid_file = text;
  while (!pid_file.empty() && (pid_file.back() == '\n' || pid_file.back() == ' ')) {
    pid_file.remove_suffix(1);
  }
  check_pid(pid_file);
  check_guest_name(text);
  check_printable(text, std::string::npos);
  check_printable(text, size > 0 ? data[0] % 64 : 0);
  return 0;
}
