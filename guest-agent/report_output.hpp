// Where the report goes: stderr, as perf stat does (the command's stdout stays clean), or
// -o FILE. Every piece is written at once, so interval blocks show up as they arrive.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "util/unique_fd.hpp"

namespace perfkvm::guest {

class ReportOutput {
 public:
  // Opens (creates, truncates) FILE, or uses stderr. Throws GuestError if FILE cannot be
  // opened: better to fail before the command runs than to lose its counts afterwards.
  static ReportOutput open(const std::optional<std::string>& path);

  // Never throws: the command runs on whether or not its report can be written. The first
  // failure is kept for error().
  void write(std::string_view text);
  // Empty, or what went wrong writing, e.g. "cannot write the report to x.csv: No space left".
  const std::string& error() const { return error_; }

 private:
  ReportOutput(UniqueFd file, std::string name);

  UniqueFd file_;  // -o FILE; empty for stderr
  std::string name_;
  std::string error_;
};

}  // namespace perfkvm::guest
