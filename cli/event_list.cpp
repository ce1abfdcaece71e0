#include "cli/event_list.hpp"

#include <algorithm>
#include <charconv>
#include <stdexcept>

#include "protocol/events.hpp"
#include "protocol/messages.hpp"

namespace perfkvm::cli {

namespace {

std::vector<std::string_view> split(std::string_view text, std::string_view separators) {
  std::vector<std::string_view> parts;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t end = std::min(text.find_first_of(separators, at), text.size());
    if (end > at) parts.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  return parts;
}

std::uint32_t parse_index(std::string_view text, std::string_view whole) {
  std::uint32_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() ||
      value >= protocol::kMaxVcpus) {
    throw std::invalid_argument("invalid vCPU list '" + std::string(whole) + "': '" +
                                std::string(text) + "' is not a vCPU index from 0 to " +
                                std::to_string(protocol::kMaxVcpus - 1));
  }
  return value;
}

}  // namespace

std::vector<std::string> parse_event_list(std::string_view text) {
  std::vector<std::string> events;
  for (const auto name : split(text, ", \t")) {
    const protocol::ParsedEventName parsed = protocol::parse_event_name(name);
    if (parsed.event == nullptr) {
      throw std::invalid_argument("unknown event '" + std::string(name) +
                                  "'; valid events: " + protocol::event_names_list() +
                                  " (aliases: " + protocol::event_aliases_list() +
                                  "; :G or :H after a hardware event: one side only)");
    }
    if (!parsed.problem.empty()) throw std::invalid_argument(parsed.problem);
    events.emplace_back(name);
  }
  if (events.empty()) throw std::invalid_argument("no events given");
  if (events.size() > protocol::kMaxEventsPerRequest) {
    throw std::invalid_argument(std::to_string(events.size()) + " events given; at most " +
                                std::to_string(protocol::kMaxEventsPerRequest));
  }
  return events;
}

std::vector<std::string> parse_event_args(const std::vector<std::string>& args) {
  std::string joined;
  for (const auto& arg : args) joined += arg + ",";
  return parse_event_list(joined);
}

std::vector<std::string> default_events() {
  return {"task-clock", "context-switches", "cpu-migrations", "page-faults",
          "cycles",     "instructions",     "branches",       "branch-misses"};
}

std::vector<std::string> detailed_events(unsigned level) {
  // perf 6.1 builtin-stat.c: detailed_attrs, very_detailed_attrs, very_very_detailed_attrs.
  static const std::vector<std::vector<std::string>> kLevels = {
      {"L1-dcache-loads", "L1-dcache-load-misses", "LLC-loads", "LLC-load-misses"},
      {"L1-icache-loads", "L1-icache-load-misses", "dTLB-loads", "dTLB-load-misses", "iTLB-loads",
       "iTLB-load-misses"},
      {"L1-dcache-prefetches", "L1-dcache-prefetch-misses"},
  };
  std::vector<std::string> events;
  for (unsigned i = 0; i < level && i < kLevels.size(); ++i) {
    events.insert(events.end(), kLevels[i].begin(), kLevels[i].end());
  }
  return events;
}

std::vector<std::uint32_t> parse_vcpu_list(std::string_view text) {
  std::vector<std::uint32_t> vcpus;
  const auto items = split(text, ",");
  if (items.empty()) throw std::invalid_argument("empty vCPU list");
  for (const auto item : items) {
    const auto dash = item.find('-');
    if (dash == std::string_view::npos) {
      vcpus.push_back(parse_index(item, text));
      continue;
    }
    const auto first = parse_index(item.substr(0, dash), text);
    const auto last = parse_index(item.substr(dash + 1), text);
    if (first > last) {
      throw std::invalid_argument("invalid vCPU list '" + std::string(text) + "': range '" +
                                  std::string(item) + "' runs backwards");
    }
    for (auto vcpu = first; vcpu <= last; ++vcpu) vcpus.push_back(vcpu);
  }
  std::sort(vcpus.begin(), vcpus.end());
  vcpus.erase(std::unique(vcpus.begin(), vcpus.end()), vcpus.end());
  return vcpus;
}

}  // namespace perfkvm::cli
