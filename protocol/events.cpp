#include "protocol/events.hpp"

#include <linux/perf_event.h>

#include <algorithm>
#include <array>

namespace perfkvm::protocol {
namespace {

constexpr auto hw = EventKind::hardware;
constexpr auto sw = EventKind::software;

// A generic hardware cache event's config, as perf encodes it (perf_event_open(2)):
// cache id | operation << 8 | result << 16.
constexpr std::uint64_t cache(std::uint64_t id, std::uint64_t op, std::uint64_t result) {
  return id | op << 8 | result << 16;
}
constexpr std::uint64_t kRead = PERF_COUNT_HW_CACHE_OP_READ;
constexpr std::uint64_t kWrite = PERF_COUNT_HW_CACHE_OP_WRITE;
constexpr std::uint64_t kPrefetch = PERF_COUNT_HW_CACHE_OP_PREFETCH;
constexpr std::uint64_t kAccess = PERF_COUNT_HW_CACHE_RESULT_ACCESS;
constexpr std::uint64_t kMiss = PERF_COUNT_HW_CACHE_RESULT_MISS;
constexpr std::uint32_t kCache = PERF_TYPE_HW_CACHE;

constexpr std::array<EventInfo, 38> kCatalogue{{
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
    {"stalled-cycles-frontend", "idle-cycles-frontend", hw, PERF_TYPE_HARDWARE,
     PERF_COUNT_HW_STALLED_CYCLES_FRONTEND, "cycles the front end issued no instruction"},
    {"stalled-cycles-backend", "idle-cycles-backend", hw, PERF_TYPE_HARDWARE,
     PERF_COUNT_HW_STALLED_CYCLES_BACKEND, "cycles the back end retired no instruction"},
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
    // perf's generic hardware cache events (perf list: "Hardware cache event"), as perf names
    // them: what the host PMU maps each to is its own business, and many have no mapping.
    {"L1-dcache-loads", "", hw, kCache, cache(PERF_COUNT_HW_CACHE_L1D, kRead, kAccess),
     "level 1 data cache loads"},
    {"L1-dcache-load-misses", "", hw, kCache, cache(PERF_COUNT_HW_CACHE_L1D, kRead, kMiss),
     "level 1 data cache load misses"},
    {"L1-dcache-stores", "", hw, kCache, cache(PERF_COUNT_HW_CACHE_L1D, kWrite, kAccess),
     "level 1 data cache stores"},
    {"L1-dcache-store-misses", "", hw, kCache, cache(PERF_COUNT_HW_CACHE_L1D, kWrite, kMiss),
     "level 1 data cache store misses"},
    {"L1-dcache-prefetches", "", hw, kCache, cache(PERF_COUNT_HW_CACHE_L1D, kPrefetch, kAccess),
     "level 1 data cache prefetches"},
    {"L1-dcache-prefetch-misses", "", hw, kCache,
     cache(PERF_COUNT_HW_CACHE_L1D, kPrefetch, kMiss), "level 1 data cache prefetch misses"},
    {"L1-icache-loads", "", hw, kCache, cache(PERF_COUNT_HW_CACHE_L1I, kRead, kAccess),
     "level 1 instruction cache loads"},
    {"L1-icache-load-misses", "", hw, kCache, cache(PERF_COUNT_HW_CACHE_L1I, kRead, kMiss),
     "level 1 instruction cache load misses"},
    {"LLC-loads", "", hw, kCache, cache(PERF_COUNT_HW_CACHE_LL, kRead, kAccess),
     "last-level cache loads"},
    {"LLC-load-misses", "", hw, kCache, cache(PERF_COUNT_HW_CACHE_LL, kRead, kMiss),
     "last-level cache load misses"},
    {"LLC-stores", "", hw, kCache, cache(PERF_COUNT_HW_CACHE_LL, kWrite, kAccess),
     "last-level cache stores"},
    {"LLC-store-misses", "", hw, kCache, cache(PERF_COUNT_HW_CACHE_LL, kWrite, kMiss),
     "last-level cache store misses"},
    {"dTLB-loads", "", hw, kCache, cache(PERF_COUNT_HW_CACHE_DTLB, kRead, kAccess),
     "data TLB lookups for loads"},
    {"dTLB-load-misses", "", hw, kCache, cache(PERF_COUNT_HW_CACHE_DTLB, kRead, kMiss),
     "data TLB misses for loads"},
    {"iTLB-loads", "", hw, kCache, cache(PERF_COUNT_HW_CACHE_ITLB, kRead, kAccess),
     "instruction TLB lookups"},
    {"iTLB-load-misses", "", hw, kCache, cache(PERF_COUNT_HW_CACHE_ITLB, kRead, kMiss),
     "instruction TLB misses"},
    {"branch-loads", "", hw, kCache, cache(PERF_COUNT_HW_CACHE_BPU, kRead, kAccess),
     "branch prediction unit lookups"},
    {"branch-load-misses", "", hw, kCache, cache(PERF_COUNT_HW_CACHE_BPU, kRead, kMiss),
     "branch prediction unit misses"},
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

ParsedEventName parse_event_name(std::string_view spelt) {
  ParsedEventName parsed;
  const auto colon = spelt.find(':');
  parsed.base = spelt.substr(0, colon);
  parsed.event = find_event(parsed.base);
  if (colon == std::string_view::npos || parsed.event == nullptr) return parsed;
  const std::string_view modifiers = spelt.substr(colon + 1);
  const std::string quoted = "'" + std::string(spelt) + "': ";
  if (modifiers == "G") {
    parsed.modifier = EventModifier::guest;
  } else if (modifiers == "H") {
    parsed.modifier = EventModifier::host;
  } else if (modifiers.find_first_of("uk") != std::string_view::npos) {
    parsed.problem =
        quoted + "a host cannot split a guest's user and kernel time: it counts the vCPU "
                 "threads, where perf's :u and :k would exclude the host's own user or kernel "
                 "level, not the guest's; use :G for the guest side or :H for the host side";
  } else if (modifiers == "GH" || modifiers == "HG") {
    parsed.problem = quoted + "choose :G or :H (without a modifier the event counts both)";
  } else {
    parsed.problem = quoted + "modifier '" + std::string(modifiers) +
                     "' is not supported; perfkvm takes :G (the guest side only) and :H (the "
                     "host side only)";
  }
  if (parsed.problem.empty() && parsed.event->kind == EventKind::software) {
    parsed.problem = quoted + ":G and :H split a hardware count between guest and host; a "
                              "software event counts the vCPU thread as a whole";
  }
  if (!parsed.problem.empty()) parsed.modifier = EventModifier::none;
  return parsed;
}

std::string event_names_list() {
  std::string list;
  for (const auto& event : kCatalogue) {
    if (!list.empty()) list += ", ";
    list += event.name;
  }
  return list;
}

std::string event_aliases_list() {
  std::string list;
  for (const auto& event : kCatalogue) {
    if (event.alias.empty()) continue;
    if (!list.empty()) list += ", ";
    list += event.alias;
  }
  return list;
}

}  // namespace perfkvm::protocol
