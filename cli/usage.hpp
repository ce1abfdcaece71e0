// How perfkvm and perfkvm-host end a parse that runs nothing: a bad command line, or
// --help / --version.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace CLI {
class App;
}  // namespace CLI

namespace perfkvm::cli {

// A bad command line; main prints usage_error_text() and exits with kUsageExitStatus.
class UsageError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

// perf exits 129 on usage errors; so do both CLIs, to tell them from their runtime failures
// (1) and, for perfkvm, from the command's own statuses (mostly small numbers).
inline constexpr int kUsageExitStatus = 129;

// "perfkvm-host: error: MESSAGE" and where to look for the options, for stderr.
std::string usage_error_text(std::string_view program, std::string_view message);

// --help or --version: print this on stdout and exit 0.
struct ShowText {
  std::string text;
};

// app.parse() on `args` (without the program name): the help (of the subcommand it names, if
// any) or the version to show, or nothing when the command line asks for work. Throws
// UsageError with CLI11's message.
std::optional<ShowText> parse_command_line(CLI::App& app, const std::vector<std::string>& args);

}  // namespace perfkvm::cli
