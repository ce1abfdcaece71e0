// What the workload says to the perfkvm that runs it, one line each way over the endpoint
// PERFKVM_CTL names (perfkvm ctl, perfkvm_roi.h): "enable", "disable" or "mark NAME", then
// "ok" or "error: WHY" back. enable and disable are perf's own --control words.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>

#include "guest-agent/region_of_interest.hpp"

namespace perfkvm::guest {

// The environment variable that names the endpoint to the command and its children.
inline constexpr const char* kControlEnvironment = "PERFKVM_CTL";
// A phase name: 1 to 64 bytes, no control characters (it is printed in every report block).
inline constexpr std::size_t kMaxPhaseName = 64;
// The longest line either side sends, newline included.
inline constexpr std::size_t kMaxControlLine = 256;

struct ControlRequest {
  ControlAction action = ControlAction::enable;
  std::string phase;  // mark only
  bool operator==(const ControlRequest&) const = default;
};

// A line without its newline -> the request, or why it is not one.
std::variant<ControlRequest, std::string> parse_control_line(std::string_view line);
// The line for a request, newline included.
std::string control_line(const ControlRequest& request);
// Why `name` cannot name a phase; empty if it can.
std::string phase_name_problem(std::string_view name);

}  // namespace perfkvm::guest
