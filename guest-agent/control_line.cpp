#include "guest-agent/control_line.hpp"

#include <algorithm>

namespace perfkvm::guest {

std::string phase_name_problem(std::string_view name) {
  if (name.empty()) return "a phase needs a name";
  if (name.size() > kMaxPhaseName) {
    return "a phase name has at most " + std::to_string(kMaxPhaseName) + " bytes, got " +
           std::to_string(name.size());
  }
  if (std::any_of(name.begin(), name.end(), [](char c) {
        return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
      })) {
    return "a phase name cannot hold control characters";
  }
  return {};
}

std::variant<ControlRequest, std::string> parse_control_line(std::string_view line) {
  if (line == "enable") return ControlRequest{ControlAction::enable, {}};
  if (line == "disable") return ControlRequest{ControlAction::disable, {}};
  constexpr std::string_view kMark = "mark ";
  if (line.starts_with(kMark)) {
    const std::string_view name = line.substr(kMark.size());
    if (auto problem = phase_name_problem(name); !problem.empty()) return problem;
    return ControlRequest{ControlAction::mark, std::string(name)};
  }
  if (line == "mark") return std::string("a phase needs a name: mark NAME");
  return std::string("unknown control request; expected enable, disable or mark NAME");
}

std::string control_line(const ControlRequest& request) {
  switch (request.action) {
    case ControlAction::enable: return "enable\n";
    case ControlAction::disable: return "disable\n";
    case ControlAction::mark: return "mark " + request.phase + "\n";
  }
  return {};
}

}  // namespace perfkvm::guest
