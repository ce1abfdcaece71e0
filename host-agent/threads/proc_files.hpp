// Reading /proc, whose contents change under our feet: processes and threads vanish between
// readdir and open (ENOENT/ESRCH are normal), and their names and command lines are whatever
// the process made them. Nothing here throws for that.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/printable.hpp"

namespace perfkvm::host::proc {

struct BoundedRead {
  std::optional<std::string> bytes;  // nullopt when the file could not be opened or read
  int error = 0;                     // errno when bytes is nullopt
  bool truncated = false;            // the file had more than max_bytes; bytes holds the first
};

// Reads at most max_bytes of a file. Non-blocking open: a FIFO planted where a pid file should
// be cannot hang the agent.
BoundedRead read_bounded(const std::filesystem::path& path, std::size_t max_bytes);

// True for the errors that mean "the process or thread is gone", not "something is wrong".
bool vanished(int error);

// A pid or tid as /proc spells it: decimal digits only, no sign, no leading zero, 1..INT_MAX.
std::optional<pid_t> parse_pid(std::string_view text);

// The numeric entries of a /proc directory (processes, or a process's tasks), sorted;
// nullopt when the directory cannot be opened (e.g. the process exited).
std::optional<std::vector<pid_t>> list_pids(const std::filesystem::path& dir);

// Untrusted bytes in an error message: util/printable.hpp.
using perfkvm::printable;

}  // namespace perfkvm::host::proc
