// Replays fuzz inputs through the fuzz target without libFuzzer, so that the normal (gcc)
// build and build-asan/ check every committed regression and seed on each test run; the
// libFuzzer build needs clang and runs only in fuzz/run-fuzz.sh.
//   fuzz_replay PATH...   (a directory: each regular file in it, sorted; README.md skipped)
// Fails if an input crashes (the fuzz target's checks abort) or throws, if a PATH is missing,
// or if a directory holds no input: a replay that ran nothing must not pass.
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
#include <vector>

#include <unistd.h>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

namespace fs = std::filesystem;

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

std::vector<fs::path> inputs_in(const fs::path& path) {
  if (fs::is_regular_file(path)) return {path};
  if (!fs::is_directory(path)) throw std::runtime_error("no such file or directory: " + path.string());
  std::vector<fs::path> inputs;
  for (const auto& entry : fs::directory_iterator(path)) {
    if (entry.is_regular_file() && entry.path().filename() != "README.md") {
      inputs.push_back(entry.path());
    }
  }
  std::sort(inputs.begin(), inputs.end());
  if (inputs.empty()) throw std::runtime_error("no inputs in " + path.string());
  return inputs;
}

void replay(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error("cannot read " + path.string());
  const std::vector<char> bytes{std::istreambuf_iterator<char>(file),
                                std::istreambuf_iterator<char>()};
  // A heap buffer of exactly the input's size, as libFuzzer passes it, so that under
  // AddressSanitizer a read past the end is caught.
  auto data = std::make_unique<std::uint8_t[]>(std::max<std::size_t>(bytes.size(), 1));
  std::copy(bytes.begin(), bytes.end(), data.get());
  LLVMFuzzerTestOneInput(data.get(), bytes.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: fuzz_replay PATH...\n";
    return 2;
  }
  install_crash_handlers();
  std::size_t total = 0;
  for (int i = 1; i < argc; ++i) {
    std::vector<fs::path> inputs;
    try {
      inputs = inputs_in(argv[i]);
    } catch (const std::exception& e) {
      std::cerr << "fuzz-replay: " << e.what() << "\n";
      return 1;
    }
    for (const auto& input : inputs) {
      const std::string name = input.string();
      current_input = name.c_str();
      try {
        replay(input);
      } catch (const std::exception& e) {
        std::cerr << "fuzz-replay: exception escaped on " << name << ": " << e.what() << "\n";
        return 1;
      } catch (...) {
        std::cerr << "fuzz-replay: unknown exception escaped on " << name << "\n";
        return 1;
      }
      current_input = nullptr;
    }
    std::cout << "fuzz-replay: " << inputs.size() << " inputs from " << argv[i] << "\n";
    total += inputs.size();
  }
  std::cout << "fuzz-replay: " << total << " inputs ran, none crashed\n";
  if (total == 0) {
    std::cerr << "fuzz-replay: no inputs ran\n";
    return 1;
  }
  return 0;
}
