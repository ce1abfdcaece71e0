#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "host-agent/export/export_options.hpp"
#include "protocol/events.hpp"

namespace perfkvm::host {
namespace {

// The whole catalogue as hostd's probe names it (canonically: "cpu-cycles"), hardware
// supported or not.
std::vector<protocol::EventStatus> table(bool hardware_supported) {
  std::vector<protocol::EventStatus> events;
  for (const auto& event : protocol::event_catalogue()) {
    const bool supported = event.kind == protocol::EventKind::software || hardware_supported;
    events.push_back({std::string(event.name), event.kind,
                      supported ? protocol::Availability::supported : protocol::Availability::not_supported,
                      supported ? "" : "no PMU"});
  }
  return events;
}

TEST_CASE("export default events: the software four, and the six hardware ones only where the host counts them") {
  const std::vector<std::string> software = {"task-clock", "context-switches", "cpu-migrations",
                                             "page-faults"};
  CHECK(default_export_events(table(false)) == software);
  auto with_pmu = software;
  for (const char* name : {"cycles", "instructions", "branches", "branch-misses", "cache-references",
                           "cache-misses"}) {
    with_pmu.emplace_back(name);
  }
  CHECK(default_export_events(table(true)) == with_pmu);
}

}  // namespace
}  // namespace perfkvm::host
