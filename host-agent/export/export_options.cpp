#include "host-agent/export/export_options.hpp"

#include "protocol/events.hpp"

#include <algorithm>
#include <array>
#include <string_view>

namespace perfkvm::host {

namespace {

constexpr std::array<std::string_view, 4> kSoftwareDefaults = {
    "task-clock", "context-switches", "cpu-migrations", "page-faults"};
constexpr std::array<std::string_view, 6> kHardwareDefaults = {
    "cycles", "instructions", "branches", "branch-misses", "cache-references", "cache-misses"};

// The table names events canonically ("cpu-cycles"); the defaults as perf users spell them.
bool host_counts(const std::vector<protocol::EventStatus>& table, std::string_view name) {
  const protocol::EventInfo* event = protocol::find_event(name);
  return event && std::any_of(table.begin(), table.end(), [event](const protocol::EventStatus& status) {
           return status.name == event->name && status.status == protocol::Availability::supported;
         });
}

}  // namespace

std::vector<std::string> default_export_events(const std::vector<protocol::EventStatus>& event_table) {
  std::vector<std::string> events(kSoftwareDefaults.begin(), kSoftwareDefaults.end());
  for (const auto name : kHardwareDefaults) {
    if (host_counts(event_table, name)) events.emplace_back(name);
  }
  return events;
}

}  // namespace perfkvm::host
