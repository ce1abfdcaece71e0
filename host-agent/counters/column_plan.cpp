#include "host-agent/counters/column_plan.hpp"

#include <stdexcept>

namespace perfkvm::host {

using protocol::EventKind;
using protocol::Scope;
using protocol::StartMode;

std::vector<CounterColumn> plan_columns(std::span<const protocol::EventInfo* const> events,
                                        StartMode mode) {
  std::vector<CounterColumn> columns;
  columns.reserve(events.size() * 2);
  for (const protocol::EventInfo* event : events) {
    if (event == nullptr) throw std::invalid_argument("plan_columns: null event");
    if (event->kind == EventKind::software) {
      columns.push_back({event, Scope::all});
      continue;
    }
    switch (mode) {
      case StartMode::all:
        columns.push_back({event, Scope::all});
        break;
      case StartMode::guest:
        columns.push_back({event, Scope::guest});
        break;
      case StartMode::host:
        columns.push_back({event, Scope::host});
        break;
      case StartMode::both:
        columns.push_back({event, Scope::guest});
        columns.push_back({event, Scope::host});
        break;
    }
  }
  return columns;
}

std::vector<std::vector<std::size_t>> plan_groups(std::span<const CounterColumn> columns,
                                                  std::size_t max_hardware_group) {
  if (max_hardware_group == 0) throw std::invalid_argument("plan_groups: empty hardware groups");
  std::vector<std::size_t> software;
  std::vector<std::vector<std::size_t>> hardware;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].event == nullptr) throw std::invalid_argument("plan_groups: null event");
    if (columns[i].event->kind == EventKind::software) {
      software.push_back(i);
    } else {
      if (hardware.empty() || hardware.back().size() == max_hardware_group) hardware.emplace_back();
      hardware.back().push_back(i);
    }
  }
  std::vector<std::vector<std::size_t>> groups;
  if (!software.empty()) groups.push_back(std::move(software));
  for (auto& group : hardware) groups.push_back(std::move(group));
  return groups;
}

}  // namespace perfkvm::host
