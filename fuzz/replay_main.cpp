// Replays fuzz inputs through the fuzz targets without libFuzzer, so that the normal (gcc)
// build and build-asan/ check every committed regression and seed on each test run; the
// libFuzzer build needs clang and runs only in fuzz/run-fuzz.sh. In this build each target's
// LLVMFuzzerTestOneInput is compiled under the name perfkvm_fuzz_<target> (fuzz/meson.build),
// so that one program holds them all.
//   fuzz_replay --all CORPUS REGRESSIONS   every target T: CORPUS/T, then REGRESSIONS/T if it
//                                          exists (the meson test fuzz-replay)
//   fuzz_replay TARGET PATH...             PATH through TARGET (reproducing one input)
// A PATH is a file, or a directory: each regular file in it, sorted, README.md skipped.
// Fails if an input crashes (the fuzz target's checks abort) or throws, if a PATH is missing,
// if a directory holds no input (a replay that ran nothing must not pass), and with --all if
// CORPUS or REGRESSIONS holds a directory that names no target or an input outside a
// target's directory (it would never be replayed).
#include <algorithm>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

extern "C" int perfkvm_fuzz_frame_message(const std::uint8_t* data, std::size_t size);
extern "C" int perfkvm_fuzz_domain_xml(const std::uint8_t* data, std::size_t size);
extern "C" int perfkvm_fuzz_proc_text(const std::uint8_t* data, std::size_t size);
extern "C" int perfkvm_fuzz_policy_xml(const std::uint8_t* data, std::size_t size);
extern "C" int perfkvm_fuzz_http_request(const std::uint8_t* data, std::size_t size);

namespace {

namespace fs = std::filesystem;

using Entry = int (*)(const std::uint8_t*, std::size_t);

struct Target {
  std::string_view name;  // fuzz/<name>_fuzzer.cpp, fuzz/corpus/<name>/, fuzz/regressions/<name>/
  Entry entry;
};

constexpr Target kTargets[] = {
    {"frame_message", perfkvm_fuzz_frame_message},
    {"domain_xml", perfkvm_fuzz_domain_xml},
    {"proc_text", perfkvm_fuzz_proc_text},
    {"policy_xml", perfkvm_fuzz_policy_xml},
    {"http_request", perfkvm_fuzz_http_request},
};

const Target* find_target(std::string_view name) {
  for (const auto& target : kTargets) {
    if (target.name == name) return &target;
  }
  return nullptr;
}

// The input being replayed, for the crash handler: a crash must name the file that caused it.
const char* volatile current_input = nullptr;

void write_stderr(const char* text) {
  // write() because the handler may only use async-signal-safe calls.
  if (::write(STDERR_FILENO, text, std::strlen(text)) < 0) return;
}

extern "C" void on_crash(int signal_number) {
  write_stderr("fuzz-replay: crashed (signal) on ");
  const char* input = current_input;
  write_stderr(input ? input : "(no input)");
  write_stderr("\n");
  std::signal(signal_number, SIG_DFL);
  std::raise(signal_number);
}

void install_crash_handlers() {
  for (const int signal_number : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL}) {
    struct sigaction previous {};
    sigaction(signal_number, nullptr, &previous);
    // Under AddressSanitizer its own SEGV handler is installed and reports more than we
    // could (the stack and the bad access): leave it alone.
    if (previous.sa_handler != SIG_DFL) continue;
    std::signal(signal_number, on_crash);
  }
}

class Failure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::vector<fs::path> inputs_in(const fs::path& path) {
  if (fs::is_regular_file(path)) return {path};
  if (!fs::is_directory(path)) throw Failure("no such file or directory: " + path.string());
  std::vector<fs::path> inputs;
  for (const auto& entry : fs::directory_iterator(path)) {
    if (entry.is_regular_file() && entry.path().filename() != "README.md") {
      inputs.push_back(entry.path());
    }
  }
  std::sort(inputs.begin(), inputs.end());
  if (inputs.empty()) throw Failure("no inputs in " + path.string());
  return inputs;
}

void replay(const Target& target, const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw Failure("cannot read " + path.string());
  const std::vector<char> bytes{std::istreambuf_iterator<char>(file),
                                std::istreambuf_iterator<char>()};
  // A heap buffer of exactly the input's size, as libFuzzer passes it, so that under
  // AddressSanitizer a read past the end is caught.
  auto data = std::make_unique<std::uint8_t[]>(std::max<std::size_t>(bytes.size(), 1));
  std::copy(bytes.begin(), bytes.end(), data.get());
  target.entry(data.get(), bytes.size());
}

// Replays every input of `path` through `target`; returns how many ran.
std::size_t replay_all(const Target& target, const fs::path& path) {
  const auto inputs = inputs_in(path);
  for (const auto& input : inputs) {
    const std::string name = input.string();
    current_input = name.c_str();
    try {
      replay(target, input);
    } catch (const Failure&) {
      throw;
    } catch (const std::exception& e) {
      throw Failure("exception escaped on " + name + ": " + e.what());
    } catch (...) {
      throw Failure("unknown exception escaped on " + name);
    }
    current_input = nullptr;
  }
  std::cout << "fuzz-replay: " << target.name << ": " << inputs.size() << " inputs from "
            << path.string() << "\n";
  return inputs.size();
}

// With --all: everything in `root` must belong to a target, or it would never be replayed.
void check_layout(const fs::path& root) {
  if (!fs::is_directory(root)) throw Failure("no such directory: " + root.string());
  for (const auto& entry : fs::directory_iterator(root)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory()) {
      if (!find_target(name)) {
        throw Failure(entry.path().string() + " names no fuzz target (fuzz/replay_main.cpp)");
      }
    } else if (name != "README.md") {
      throw Failure(entry.path().string() +
                    " is outside every target's directory: move it into " + root.string() +
                    "/<target>/");
    }
  }
}

std::size_t replay_every_target(const fs::path& corpus, const fs::path& regressions) {
  check_layout(corpus);
  check_layout(regressions);
  std::size_t total = 0;
  for (const auto& target : kTargets) {
    total += replay_all(target, corpus / target.name);
    if (fs::exists(regressions / target.name)) total += replay_all(target, regressions / target.name);
  }
  return total;
}

int usage() {
  std::cerr << "usage: fuzz_replay --all CORPUS REGRESSIONS\n"
               "       fuzz_replay TARGET PATH...\n"
               "targets:";
  for (const auto& target : kTargets) std::cerr << " " << target.name;
  std::cerr << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return usage();
  install_crash_handlers();
  std::size_t total = 0;
  try {
    if (std::string_view(argv[1]) == "--all") {
      if (argc != 4) return usage();
      total = replay_every_target(argv[2], argv[3]);
    } else {
      const Target* target = find_target(argv[1]);
      if (!target) {
        std::cerr << "fuzz-replay: no fuzz target '" << argv[1] << "'\n";
        return usage();
      }
      for (int i = 2; i < argc; ++i) total += replay_all(*target, argv[i]);
    }
  } catch (const std::exception& e) {
    std::cerr << "fuzz-replay: " << e.what() << "\n";
    return 1;
  }
  std::cout << "fuzz-replay: " << total << " inputs ran, none crashed\n";
  if (total == 0) {
    std::cerr << "fuzz-replay: no inputs ran\n";
    return 1;
  }
  return 0;
}
