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

// perf's guest/host modifiers on an event name: "cycles:G" counts the guest side only (perf's
// exclude_host), "cycles:H" the host side only (exclude_guest); none counts both.
enum class EventModifier { none, guest, host };

struct ParsedEventName {
  const EventInfo* event = nullptr;  // null: the name (before any modifier) is not an event
  std::string_view base;             // the name as spelt, without its modifier
  EventModifier modifier = EventModifier::none;
  // Why a known event with a modifier is refused (":u", ":k", a software event with :G, ...);
  // empty when the name is usable (or unknown: event is null then).
  std::string problem;
};

// "cycles", "cycles:G", "instructions:H". Rules (PROTOCOL.md §9): one of :G or :H, on a
// hardware event; perf's :u and :k are refused with why a host cannot honour them, other perf
// modifiers as not supported. Pure: both agents check names with it.
ParsedEventName parse_event_name(std::string_view spelt);

// Comma-separated canonical names, for "valid events are: ..." messages.
std::string event_names_list();
// Comma-separated aliases ("cycles, branch-instructions, ..."), in catalogue order.
std::string event_aliases_list();

}  // namespace perfkvm::protocol
