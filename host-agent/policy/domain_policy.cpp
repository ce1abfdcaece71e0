#include "host-agent/policy/domain_policy.hpp"

#include <algorithm>

#include "util/printable.hpp"

namespace perfkvm::host {
namespace {

constexpr std::size_t kMaxShownName = 64;

template <class T>
bool contains(const std::vector<T>& items, const T& item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

std::string_view trimmed(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n";
  const auto first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(kSpace) - first + 1);
}

}  // namespace

std::string_view class_name(protocol::EventKind kind) { return protocol::to_string(kind); }

std::optional<protocol::EventKind> class_from_name(std::string_view name) {
  for (const auto kind : {protocol::EventKind::software, protocol::EventKind::hardware}) {
    if (class_name(kind) == name) return kind;
  }
  return std::nullopt;
}

std::optional<std::string> add_allowed(EventAllowList& list, std::string_view name) {
  const std::string shown = "'" + printable(name, kMaxShownName) + "'";
  if (const auto kind = class_from_name(name)) {
    if (contains(list.classes, *kind)) return "class " + shown + " is listed twice";
    list.classes.push_back(*kind);
    return std::nullopt;
  }
  const protocol::EventInfo* event = protocol::find_event(name);
  if (event == nullptr) {
    return shown + " is neither an event nor a class (software, hardware); events are: " +
           protocol::event_names_list();
  }
  const std::string canonical(event->name);
  if (contains(list.events, canonical)) {
    return "event " + shown + (canonical == name ? "" : " (" + canonical + ")") +
           " is listed twice";
  }
  list.events.push_back(canonical);
  return std::nullopt;
}

EventAllowList parse_event_list(std::string_view comma_separated) {
  EventAllowList list;
  std::size_t position = 1;
  while (true) {
    const auto comma = comma_separated.find(',');
    const std::string_view entry = trimmed(comma_separated.substr(0, comma));
    if (entry.empty()) {
      throw PolicyError("events list: entry " + std::to_string(position) + " is empty");
    }
    if (auto problem = add_allowed(list, entry)) throw PolicyError("events list: " + *problem);
    if (comma == std::string_view::npos) break;
    comma_separated.remove_prefix(comma + 1);
    ++position;
  }
  return list;
}

std::string describe(const EventAllowList& list) {
  std::string out;
  auto add = [&out](std::string_view item) {
    if (!out.empty()) out += ", ";
    out += item;
  };
  for (const auto kind : list.classes) add(class_name(kind));
  for (const auto& event : list.events) add(event);
  return out;
}

std::string describe(const std::vector<protocol::StartMode>& modes) {
  std::string out;
  for (const auto mode : modes) {
    if (!out.empty()) out += ", ";
    out += protocol::to_string(mode);
  }
  return out;
}

}  // namespace perfkvm::host
