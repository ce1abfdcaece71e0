#include "host-agent/session/event_table.hpp"

#include "host-agent/counters/perf_event.hpp"

namespace perfkvm::host {

std::vector<protocol::EventStatus> probe_event_table() {
  std::vector<protocol::EventStatus> table;
  for (const auto& event : protocol::event_catalogue()) table.push_back(probe_event(event));
  return table;
}

}  // namespace perfkvm::host
