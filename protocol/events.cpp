#include "protocol/events.hpp"

#include <linux/perf_event.h>

#include <algorithm>
#include <array>

namespace perfkvm::protocol {
namespace {

constexpr auto hw = EventKind::hardware;
constexpr auto sw = EventKind::software;

constexpr std::array<EventInfo, 18> kCatalogue{{
    {"cpu-cycles", "cycles", hw, PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES, "CPU cycles"},
    {"instructions", "", hw, PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS,
     "instructions retired"},
    {"cache-references", "", hw, PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_REFERENCES,
     "last-level cache accesses"},
    {"cache-misses", "", hw, PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_MISSES,
     "last-level cache misses"},
    {"branches", "branch-instructions", hw, PERF_TYPE_HARDWARE,
     PERF_COUNT_HW_BRANCH_INSTRUCTIONS, "branch instructions retired"},
    {"branch-misses", "", hw, PERF_TYPE_HARDWARE, PERF_COUNT_HW_BRANCH_MISSES,
     "mispredicted branches"},
    {"bus-cycles", "", hw, PERF_TYPE_HARDWARE, PERF_COUNT_HW_BUS_CYCLES, "bus cycles"},
    {"ref-cycles", "", hw, PERF_TYPE_HARDWARE, PERF_COUNT_HW_REF_CPU_CYCLES,
     "reference cycles, not affected by frequency scaling"},
    {"cpu-clock", "", sw, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK,
     "CPU clock (high-resolution timer), ns"},
    {"task-clock", "", sw, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK,
     "time the vCPU threads ran on a host CPU, ns"},
    {"page-faults", "faults", sw, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS,
     "page faults taken by the vCPU threads"},
    {"context-switches", "cs", sw, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CONTEXT_SWITCHES,
     "host context switches of the vCPU threads"},
    {"cpu-migrations", "migrations", sw, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_MIGRATIONS,
     "moves of a vCPU thread between host CPUs"},
    {"minor-faults", "", sw, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS_MIN,
     "page faults served without I/O"},
    {"major-faults", "", sw, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS_MAJ,
     "page faults that needed I/O"},
    {"alignment-faults", "", sw, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_ALIGNMENT_FAULTS,
     "alignment faults"},
    {"emulation-faults", "", sw, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_EMULATION_FAULTS,
     "instruction emulation faults"},
    {"dummy", "", sw, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_DUMMY, "placeholder, counts nothing"},
}};

}  // namespace

std::string_view to_string(EventKind kind) {
  return kind == EventKind::hardware ? "hardware" : "software";
}

std::span<const EventInfo> event_catalogue() { return kCatalogue; }

const EventInfo* find_event(std::string_view name_or_alias) {
  if (name_or_alias.empty()) return nullptr;
  const auto* it = std::find_if(kCatalogue.begin(), kCatalogue.end(), [&](const EventInfo& e) {
    return e.name == name_or_alias || e.alias == name_or_alias;
  });
  return it == kCatalogue.end() ? nullptr : &*it;
}

std::string event_names_list() {
  std::string list;
  for (const auto& event : kCatalogue) {
    if (!list.empty()) list += ", ";
    list += event.name;
  }
  return list;
}

}  // namespace perfkvm::protocol
