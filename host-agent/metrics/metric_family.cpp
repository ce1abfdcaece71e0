#include "host-agent/metrics/metric_family.hpp"

#include <algorithm>
#include <array>

namespace perfkvm::host::metrics {

namespace {

constexpr std::string_view kPrefix = "perfkvm_vcpu_";

// The events perf counts in nanoseconds. Prometheus wants base units, so they are exported in
// seconds; their catalogue description ends in kNsSuffix, which the HELP text drops.
constexpr std::array<std::string_view, 2> kNanosecondClocks{"cpu-clock", "task-clock"};
constexpr std::string_view kNsSuffix = ", ns";
constexpr double kNanosecondsPerSecond = 1e9;

// Where the family takes the event's short name rather than its canonical one: perf stat's
// default list and its output say "cycles", and so do the queries written against perf's
// vocabulary (IPC = instructions / cycles); "perfkvm_vcpu_cpu_cycles" would surprise them.
struct FamilyNameOverride {
  std::string_view event;
  std::string_view name_part;
};
constexpr std::array<FamilyNameOverride, 1> kFamilyNameOverrides{{{"cpu-cycles", "cycles"}}};

std::string_view family_name_source(std::string_view event) {
  for (const auto& override_ : kFamilyNameOverrides) {
    if (override_.event == event) return override_.name_part;
  }
  return event;
}

bool is_ascii_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }

bool is_nanosecond_clock(std::string_view event) {
  return std::find(kNanosecondClocks.begin(), kNanosecondClocks.end(), event) !=
         kNanosecondClocks.end();
}

// Lower case, and '_' for each byte a metric name cannot hold. ':' is valid in a name but
// reserved for recording rules, so it becomes '_' too.
std::string name_part(std::string_view event) {
  std::string part(event);
  for (char& c : part) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    } else if (!is_ascii_letter(c) && !is_ascii_digit(c)) {
      c = '_';
    }
  }
  return part;
}

std::string help_for(const protocol::EventInfo& event, bool in_seconds) {
  std::string_view description = event.description;
  if (in_seconds && description.ends_with(kNsSuffix)) description.remove_suffix(kNsSuffix.size());
  std::string help(description);
  if (!help.empty()) help += ": ";
  help += "perf event ";
  help += event.name;
  help += ", counted by the host on the vCPU thread";
  if (in_seconds) help += ", in seconds";
  return help;
}

}  // namespace

EventFamily family_for_event(const protocol::EventInfo& event) {
  EventFamily family;
  const bool in_seconds = is_nanosecond_clock(event.name);
  family.name = std::string(kPrefix) + name_part(family_name_source(event.name));
  if (in_seconds) {
    family.unit = "seconds";
    family.name += "_" + family.unit;
    family.divisor = kNanosecondsPerSecond;
  }
  family.help = help_for(event, in_seconds);
  return family;
}

bool is_valid_metric_name(std::string_view name) {
  if (name.empty()) return false;
  const auto initial = [](char c) { return is_ascii_letter(c) || c == '_' || c == ':'; };
  if (!initial(name.front())) return false;
  return std::all_of(name.begin() + 1, name.end(),
                     [&](char c) { return initial(c) || is_ascii_digit(c); });
}

bool is_valid_label_name(std::string_view name) {
  if (name.empty() || name.starts_with("__")) return false;
  const auto initial = [](char c) { return is_ascii_letter(c) || c == '_'; };
  if (!initial(name.front())) return false;
  return std::all_of(name.begin() + 1, name.end(),
                     [&](char c) { return initial(c) || is_ascii_digit(c); });
}

}  // namespace perfkvm::host::metrics
