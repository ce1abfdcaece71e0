#include "host-agent/counters/column_plan.hpp"

#include <stdexcept>

namespace perfkvm::host {

using protocol::EventKind;
using protocol::Scope;
using protocol::StartMode;

namespace {

// The one rule of §4.2: which scopes an event is counted in for a start mode; a :G or :H on
// the name (§9) fixes the one scope, whatever the mode.
void append_columns(std::vector<CounterColumn>& columns, const protocol::EventInfo* event,
                    StartMode mode, std::string_view label,
                    protocol::EventModifier modifier = protocol::EventModifier::none) {
  if (event == nullptr) throw std::invalid_argument("plan_columns: null event");
  const auto add = [&](Scope scope) { columns.push_back({event, scope, std::string(label)}); };
  if (event->kind == EventKind::software) return add(Scope::all);
  if (modifier == protocol::EventModifier::guest) return add(Scope::guest);
  if (modifier == protocol::EventModifier::host) return add(Scope::host);
  switch (mode) {
    case StartMode::all:
      return add(Scope::all);
    case StartMode::guest:
      return add(Scope::guest);
    case StartMode::host:
      return add(Scope::host);
    case StartMode::both:
      add(Scope::guest);
      return add(Scope::host);
  }
}

}  // namespace

std::vector<CounterColumn> plan_columns(std::span<const protocol::EventInfo* const> events,
                                        StartMode mode) {
  std::vector<CounterColumn> columns;
  columns.reserve(events.size() * 2);
  for (const protocol::EventInfo* event : events) append_columns(columns, event, mode, {});
  return columns;
}

std::vector<CounterColumn> plan_named_columns(std::span<const std::string> names,
                                              StartMode mode) {
  std::vector<CounterColumn> columns;
  columns.reserve(names.size() * 2);
  for (const auto& name : names) {
    const protocol::ParsedEventName parsed = protocol::parse_event_name(name);
    if (parsed.event == nullptr) throw std::invalid_argument("unknown event '" + name + "'");
    if (!parsed.problem.empty()) throw std::invalid_argument(parsed.problem);
    // Labelled without the modifier: the column's scope carries it (printed "cycles:G").
    append_columns(columns, parsed.event, mode, parsed.base, parsed.modifier);
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
