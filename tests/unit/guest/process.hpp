// Runs a program (the real perfkvm binary) as a child process, with stdout and stderr
// captured, and a time limit after which it is killed and the test fails.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace perfkvm::test {

struct ProcessResult {
  int status = -1;  // exit code, or 128+N when killed by signal N
  std::string out;
  std::string err;
  std::chrono::milliseconds elapsed{0};
  bool timed_out = false;
};

// `on_spawned` gets the pid as soon as the child exists (e.g. to let a fake host signal it);
// the child has this process's environment with `set_environment`'s NAME=VALUE entries.
ProcessResult run_process(const std::vector<std::string>& argv, std::chrono::milliseconds limit,
                          const std::function<void(pid_t)>& on_spawned = {},
                          const std::vector<std::string>& set_environment = {});

// The lines of `text`, without their newlines.
std::vector<std::string> lines_of(const std::string& text);

}  // namespace perfkvm::test
