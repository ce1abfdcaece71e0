#include "host-agent/threads/qemu_process.hpp"

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <system_error>

#include "host-agent/threads/proc_files.hpp"
#include "util/uuid.hpp"

namespace perfkvm::host {
namespace {

// libvirt's QEMU command lines are a few KiB with -name and -uuid near the front; the cap only
// bounds what a hostile or odd process can make us read.
constexpr std::size_t kMaxCmdlineBytes = 256 * 1024;
constexpr std::size_t kMaxPidFileBytes = 64;
constexpr std::size_t kMaxCommBytes = 64;  // the kernel's TASK_COMM_LEN is 16

bool equal_ignoring_ascii_case(std::string_view a, std::string_view b) {
  const auto lower = [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [&](char x, char y) { return lower(x) == lower(y); });
}

// The value after the last occurrence of -option (or --option), as QEMU lets later ones win.
std::optional<std::string_view> last_option_value(const std::vector<std::string>& argv,
                                                  std::string_view option) {
  std::optional<std::string_view> value;
  for (std::size_t i = 1; i + 1 < argv.size(); ++i) {
    std::string_view arg = argv[i];
    if (arg.starts_with("--")) arg.remove_prefix(1);
    if (arg.size() == option.size() + 1 && arg.front() == '-' && arg.substr(1) == option) {
      value = argv[i + 1];
    }
  }
  return value;
}

bool is_qemu_binary(std::string_view argv0) {
  const auto slash = argv0.rfind('/');
  const std::string_view base = slash == std::string_view::npos ? argv0 : argv0.substr(slash + 1);
  return base.starts_with("qemu");
}

std::string error_text(int error) { return std::generic_category().message(error); }

// The process's name (its main thread's comm, without the newline), or nullopt when it cannot
// be read. The kernel keeps comm in the task itself, so reading it never waits on the process's
// memory; reading cmdline does (it takes the process's mmap lock, which a process can hold for
// as long as it likes, for example in a page fault on a FUSE mapping). The scan below reads the
// cmdline only of processes already named like QEMU, so an unrelated process cannot stall it.
std::optional<std::string> read_process_name(const HostPaths& paths, pid_t pid,
                                             int* error = nullptr) {
  const auto id = std::to_string(pid);
  auto read = proc::read_bounded(paths.proc_root / id / "task" / id / "comm", kMaxCommBytes);
  if (error) *error = read.error;
  if (!read.bytes) return std::nullopt;
  if (!read.bytes->empty() && read.bytes->back() == '\n') read.bytes->pop_back();
  return std::move(read.bytes);
}

// QEMU's comm is the basename of the binary it was started as (cut to 15 bytes), so it starts
// with "qemu" exactly when is_qemu_binary() can accept its argv[0].
bool named_like_qemu(const std::optional<std::string>& name) {
  return name && name->starts_with("qemu");
}

// The process's argv, or nullopt when it cannot be read (usually: it exited).
std::optional<std::vector<std::string>> read_argv(const HostPaths& paths, pid_t pid, int* error) {
  auto read =
      proc::read_bounded(paths.proc_root / std::to_string(pid) / "cmdline", kMaxCmdlineBytes);
  if (error) *error = read.error;
  if (!read.bytes) return std::nullopt;
  auto argv = split_cmdline(*read.bytes);
  // The last argument of a truncated command line is cut short: it cannot match anything.
  if (read.truncated && !argv.empty()) argv.pop_back();
  return argv;
}

// Why the pid file does not identify the domain's QEMU, or empty when it does (*pid set).
std::string check_pid_file(const HostPaths& paths, std::string_view domain_name,
                           std::string_view uuid, std::optional<pid_t>* pid) {
  if (domain_name.find_first_of(std::string_view("/\0", 2)) != std::string_view::npos ||
      domain_name == "." || domain_name == "..") {
    // libvirt rejects such names, so there is no pid file to find, and no path to build.
    return "domain name '" + proc::printable(domain_name) + "' cannot name a pid file";
  }
  const auto path = paths.libvirt_qemu_run_dir / (std::string(domain_name) + ".pid");
  const auto read = proc::read_bounded(path, kMaxPidFileBytes);
  if (!read.bytes) {
    if (read.error == ENOENT) return "no pid file " + path.string();
    return "cannot read pid file " + path.string() + ": " + error_text(read.error);
  }
  std::string_view text = *read.bytes;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  const auto named = proc::parse_pid(text);
  if (read.truncated || !named) {
    return "pid file " + path.string() + " holds '" + proc::printable(*read.bytes) +
           "', not a process id";
  }
  const std::string prefix = "pid file " + path.string() + " names pid " + std::to_string(*named);
  int error = 0;
  const auto name = read_process_name(paths, *named, &error);
  if (!name) {
    if (proc::vanished(error)) return prefix + ", which no longer exists";
    return prefix + ", whose name cannot be read: " + error_text(error);
  }
  if (!named_like_qemu(name)) {
    return prefix + ", which is not this domain's QEMU (stale pid file, pid reused?): it is named '" +
           proc::printable(*name) + "'";
  }
  const auto argv = read_argv(paths, *named, &error);
  if (!argv) {
    if (proc::vanished(error)) return prefix + ", which no longer exists";
    return prefix + ", whose command line cannot be read: " + error_text(error);
  }
  if (!is_domain_qemu(*argv, domain_name, uuid)) {
    return prefix + ", which is not this domain's QEMU (stale pid file, pid reused?): " +
           proc::printable(argv->empty() ? "" : argv->front());
  }
  *pid = named;
  return {};
}

}  // namespace

std::vector<std::string> split_cmdline(std::string_view bytes) {
  std::vector<std::string> argv;
  while (!bytes.empty()) {
    const auto nul = bytes.find('\0');
    argv.emplace_back(bytes.substr(0, nul));
    if (nul == std::string_view::npos) break;
    bytes.remove_prefix(nul + 1);
  }
  return argv;
}

std::optional<std::string> guest_name_of(std::string_view name_option) {
  std::optional<std::string> guest;
  std::string option;
  bool first = true;
  const auto finish_option = [&] {
    if (option.starts_with("guest=")) {
      guest = option.substr(6);
    } else if (first && option.find('=') == std::string::npos) {
      guest = option;
    }
    option.clear();
    first = false;
  };
  for (std::size_t i = 0; i < name_option.size(); ++i) {
    if (name_option[i] != ',') {
      option += name_option[i];
    } else if (i + 1 < name_option.size() && name_option[i + 1] == ',') {
      option += ',';  // QEMU's escape for a comma inside a value
      ++i;
    } else {
      finish_option();
    }
  }
  finish_option();
  if (guest && guest->empty()) return std::nullopt;
  return guest;
}

bool is_domain_qemu(const std::vector<std::string>& argv, std::string_view domain_name,
                    std::string_view uuid) {
  if (argv.empty() || !is_qemu_binary(argv.front())) return false;
  const auto process_uuid = last_option_value(argv, "uuid");
  if (!process_uuid || !equal_ignoring_ascii_case(*process_uuid, uuid)) return false;
  const auto name_option = last_option_value(argv, "name");
  if (!name_option) return false;
  const auto guest = guest_name_of(*name_option);
  return guest && *guest == domain_name;
}

QemuProcessLookup locate_qemu_process(const HostPaths& paths, std::string_view domain_name,
                                      std::string_view uuid) {
  if (domain_name.empty()) throw std::invalid_argument("locate_qemu_process: empty domain name");
  if (!is_canonical_uuid(uuid)) {
    throw std::invalid_argument("locate_qemu_process: domain '" + proc::printable(domain_name) +
                                "': '" + proc::printable(uuid) + "' is not a canonical UUID");
  }
  QemuProcessLookup lookup;
  lookup.pid_file_problem = check_pid_file(paths, domain_name, uuid, &lookup.pid);
  if (lookup.pid) {
    lookup.source = "pid-file";
    return lookup;
  }

  std::vector<pid_t> candidates;
  for (const pid_t pid : proc::list_pids(paths.proc_root).value_or(std::vector<pid_t>{})) {
    if (!named_like_qemu(read_process_name(paths, pid))) continue;
    const auto argv = read_argv(paths, pid, nullptr);
    if (argv && is_domain_qemu(*argv, domain_name, uuid)) candidates.push_back(pid);
  }
  const std::string who =
      "domain '" + proc::printable(domain_name) + "' (uuid " + std::string(uuid) + ")";
  if (candidates.size() == 1) {
    lookup.pid = candidates.front();
    lookup.source = "cmdline-scan";
  } else if (candidates.empty()) {
    lookup.problem = who + ": " + lookup.pid_file_problem + ", and no QEMU process under " +
                     paths.proc_root.string() + " has -uuid " + std::string(uuid) +
                     " and -name guest=" + proc::printable(domain_name) + " (domain not running?)";
  } else {
    std::string pids;
    for (const pid_t pid : candidates) pids += (pids.empty() ? "" : ", ") + std::to_string(pid);
    lookup.problem = who + ": " + lookup.pid_file_problem + ", and " +
                     std::to_string(candidates.size()) + " QEMU processes claim the domain (pids " +
                     pids + "): refusing to guess";
  }
  return lookup;
}

std::optional<pid_t> find_qemu_pid(const HostPaths& paths, std::string_view domain_name,
                                   std::string_view uuid) {
  return locate_qemu_process(paths, domain_name, uuid).pid;
}

}  // namespace perfkvm::host
