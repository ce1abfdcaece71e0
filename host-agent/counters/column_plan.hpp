// Which counters a request needs: its columns (event x scope) and how they are grouped per
// thread. Pure functions, no syscalls.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/events.hpp"
#include "protocol/messages.hpp"

namespace perfkvm::host {

struct CounterColumn {
  const protocol::EventInfo* event = nullptr;
  protocol::Scope scope = protocol::Scope::all;
  // The event as the request spelt it ("cycles" stays "cycles", as perf prints it): the
  // column's name on the wire (PROTOCOL.md: column.event). Empty: the catalogue's name.
  std::string label = {};
  bool operator==(const CounterColumn&) const = default;

  std::string_view name() const { return label.empty() ? event->name : label; }
};

// The columns of a request, in the order of `events` (PROTOCOL.md §4.2): a hardware event gives
// one column in mode all (scope all), guest (scope guest) or host (scope host), and two in mode
// both (guest, then host); a software event always gives one column of scope all.
std::vector<CounterColumn> plan_columns(std::span<const protocol::EventInfo* const> events,
                                        protocol::StartMode mode);

// The same plan for events named as a request or a command line names them (canonical names or
// aliases, §9, with perf's :G or :H for one side only), each column labelled as spelt (without
// the modifier, which the column's scope carries). This is the plan a measurement counts and that
// admission budgets: everything that needs a request's columns takes them from here. Throws
// std::invalid_argument for a name not in the catalogue or a refused modifier (callers that answer an unknown name
// with their own error check the names first).
std::vector<CounterColumn> plan_named_columns(std::span<const std::string> names,
                                              protocol::StartMode mode);

// The groups of counters opened on each thread, as column indexes: all software columns in one
// group (they never compete for hardware), then the hardware columns in groups of at most
// `max_hardware_group` so that each group fits the PMU's counters at once (a group that does
// not fit never runs). Throws std::invalid_argument if max_hardware_group is 0.
std::vector<std::vector<std::size_t>> plan_groups(std::span<const CounterColumn> columns,
                                                  std::size_t max_hardware_group);

}  // namespace perfkvm::host
