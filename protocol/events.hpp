// The event catalogue both agents share: perf-stat names and aliases <-> perf_event_attr
// (type, config) <-> hardware/software. One table, in events.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace perfkvm::protocol {

enum class EventKind { hardware, software };

std::string_view to_string(EventKind kind);

struct EventInfo {
  std::string_view name;   // canonical name, as perf stat prints it
  std::string_view alias;  // second accepted name, or empty
  EventKind kind;
  // perf_event_attr.type: PERF_TYPE_HARDWARE, PERF_TYPE_HW_CACHE (kind hardware: they need
  // the PMU too) or PERF_TYPE_SOFTWARE.
  std::uint32_t perf_type;
  std::uint64_t perf_config;
  std::string_view description;
};

// All events: hardware, software, then hardware cache events, in the order perf list has them.
std::span<const EventInfo> event_catalogue();

// Finds an event by canonical name or alias (exact, case-sensitive as in perf).
const EventInfo* find_event(std::string_view name_or_alias);

// Comma-separated canonical names, for "valid events are: ..." messages.
std::string event_names_list();
// Comma-separated aliases ("cycles, branch-instructions, ..."), in catalogue order.
std::string event_aliases_list();

}  // namespace perfkvm::protocol
