#include "cli/usage.hpp"

#include <CLI/CLI.hpp>

namespace perfkvm::cli {

std::string usage_error_text(std::string_view program, std::string_view message) {
  const std::string name(program);
  return name + ": error: " + std::string(message) + "\nRun '" + name +
         " --help' for the options.\n";
}

std::optional<ShowText> parse_command_line(CLI::App& app, const std::vector<std::string>& args) {
  const std::string program = app.get_name();
  std::vector<const char*> argv{program.c_str()};
  for (const auto& arg : args) argv.push_back(arg.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::CallForHelp&) {
    return ShowText{app.help() + "\n"};
  } catch (const CLI::CallForVersion& version) {
    return ShowText{std::string(version.what()) + "\n"};
  } catch (const CLI::ParseError& error) {
    throw UsageError(error.what());
  }
  return std::nullopt;
}

}  // namespace perfkvm::cli
