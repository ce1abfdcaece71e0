#include "report/metrics.hpp"

#include <linux/perf_event.h>

#include <algorithm>

#include "protocol/events.hpp"

namespace perfkvm::report {
namespace {

constexpr MetricFormat kRate{8, 3, ""};          // "%8.3f"
constexpr MetricFormat kInsnPerCycle{7, 2, " "};  // "%7.2f "
constexpr MetricFormat kPercent{7, 2, "%"};      // "%7.2f%%"
constexpr MetricFormat kCachePercent{8, 3, " %"};  // "%8.3f %%"

std::size_t index_of(EventRole role) { return static_cast<std::size_t>(role); }

int context_of(protocol::Scope scope) { return scope == protocol::Scope::guest ? 1 : 0; }

Metric value_metric(double value, MetricFormat format, std::string unit) {
  return Metric{Metric::Kind::value, value, format, std::move(unit)};
}

Metric blank_metric(std::string unit) {
  return Metric{Metric::Kind::blank, 0, {}, std::move(unit)};
}

// perf's convert_unit_double: K, M, G steps of 1000.
Metric rate_metric(double per_second) {
  std::string unit = "/sec";
  for (const char prefix : {'K', 'M', 'G'}) {
    if (per_second <= 1000.0) break;
    per_second /= 1000.0;
    unit = std::string(1, prefix) + "/sec";
  }
  return value_metric(per_second, kRate, unit);
}

// perf matches a cache event by its whole config: only the read accesses are denominators and
// only the read misses get a ratio; stores, prefetches and the branch unit's are plain counts.
struct CacheRatio {
  std::uint64_t cache;  // PERF_COUNT_HW_CACHE_*
  EventRole loads;
  EventRole misses;
  std::string_view unit;
};
constexpr std::array<CacheRatio, 5> kCacheRatios{{
    {PERF_COUNT_HW_CACHE_L1D, EventRole::l1d_loads, EventRole::l1d_load_misses,
     "of all L1-dcache accesses"},
    {PERF_COUNT_HW_CACHE_L1I, EventRole::l1i_loads, EventRole::l1i_load_misses,
     "of all L1-icache accesses"},
    {PERF_COUNT_HW_CACHE_LL, EventRole::ll_loads, EventRole::ll_load_misses,
     "of all LL-cache accesses"},
    {PERF_COUNT_HW_CACHE_DTLB, EventRole::dtlb_loads, EventRole::dtlb_load_misses,
     "of all dTLB cache accesses"},
    {PERF_COUNT_HW_CACHE_ITLB, EventRole::itlb_loads, EventRole::itlb_load_misses,
     "of all iTLB cache accesses"},
}};

EventRole cache_role(std::uint64_t config) {
  constexpr std::uint64_t kReadAccess = PERF_COUNT_HW_CACHE_OP_READ << 8 |
                                        PERF_COUNT_HW_CACHE_RESULT_ACCESS << 16;
  constexpr std::uint64_t kReadMiss = PERF_COUNT_HW_CACHE_OP_READ << 8 |
                                      PERF_COUNT_HW_CACHE_RESULT_MISS << 16;
  for (const auto& ratio : kCacheRatios) {
    if (config == (ratio.cache | kReadAccess)) return ratio.loads;
    if (config == (ratio.cache | kReadMiss)) return ratio.misses;
  }
  return EventRole::other;
}

const CacheRatio* cache_ratio_of(EventRole misses) {
  for (const auto& ratio : kCacheRatios) {
    if (ratio.misses == misses) return &ratio;
  }
  return nullptr;
}

}  // namespace

EventRole role_of(std::string_view event) {
  const protocol::EventInfo* info = protocol::find_event(event);
  if (info == nullptr) return EventRole::other;
  if (info->perf_type == PERF_TYPE_SOFTWARE) {
    const bool clock = info->perf_config == PERF_COUNT_SW_TASK_CLOCK ||
                       info->perf_config == PERF_COUNT_SW_CPU_CLOCK;
    return clock ? EventRole::clock : EventRole::other;
  }
  if (info->perf_type == PERF_TYPE_HW_CACHE) return cache_role(info->perf_config);
  switch (info->perf_config) {
    case PERF_COUNT_HW_CPU_CYCLES: return EventRole::cycles;
    case PERF_COUNT_HW_INSTRUCTIONS: return EventRole::instructions;
    case PERF_COUNT_HW_BRANCH_INSTRUCTIONS: return EventRole::branches;
    case PERF_COUNT_HW_BRANCH_MISSES: return EventRole::branch_misses;
    case PERF_COUNT_HW_CACHE_REFERENCES: return EventRole::cache_refs;
    case PERF_COUNT_HW_CACHE_MISSES: return EventRole::cache_misses;
    case PERF_COUNT_HW_STALLED_CYCLES_FRONTEND: return EventRole::stalled_frontend;
    case PERF_COUNT_HW_STALLED_CYCLES_BACKEND: return EventRole::stalled_backend;
    default: return EventRole::other;
  }
}

void ShadowStats::record(const protocol::Column& column, std::uint64_t value) {
  const EventRole role = role_of(column.event);
  const int context = role == EventRole::clock ? 0 : context_of(column.scope);
  Sum& sum = sums_[index_of(role)][static_cast<std::size_t>(context)];
  sum.total += static_cast<double>(value);
  ++sum.readings;
}

std::optional<double> ShadowStats::mean(EventRole role, protocol::Scope scope) const {
  const int context = role == EventRole::clock ? 0 : context_of(scope);
  const Sum& sum = sums_[index_of(role)][static_cast<std::size_t>(context)];
  if (sum.readings == 0) return std::nullopt;
  return sum.total / static_cast<double>(sum.readings);
}

Metric derive_metric(const protocol::Column& column, double scaled_value, const ShadowStats& stats,
                     std::uint64_t wall_ns) {
  const auto denominator = [&](EventRole role) { return stats.mean(role, column.scope); };
  switch (role_of(column.event)) {
    case EventRole::clock: {
      if (wall_ns == 0) return blank_metric("CPUs utilized");
      // perf divides the msec value by wall time times the msec scale, not ns by ns.
      const double wall = static_cast<double>(wall_ns);
      return value_metric(scaled_value / (wall * display_scale(column.event)), kRate,
                          "CPUs utilized");
    }
    case EventRole::cycles: {
      const auto ns = denominator(EventRole::clock);
      if (!ns || *ns == 0) return blank_metric("Ghz");  // sic: perf spells the blank one so
      return value_metric(scaled_value / *ns, kRate, "GHz");
    }
    case EventRole::instructions: {
      const auto cycles = denominator(EventRole::cycles);
      if (!cycles || *cycles == 0) return blank_metric("insn per cycle");
      return value_metric(scaled_value / *cycles, kInsnPerCycle, "insn per cycle");
    }
    case EventRole::branch_misses: {
      const auto branches = denominator(EventRole::branches);
      if (!branches) return blank_metric("of all branches");
      const double ratio = *branches != 0 ? scaled_value / *branches * 100.0 : 0.0;
      return value_metric(ratio, kPercent, "of all branches");
    }
    case EventRole::cache_misses: {
      const auto refs = denominator(EventRole::cache_refs);
      if (!refs) return blank_metric("of all cache refs");
      const double ratio = *refs != 0 ? scaled_value * 100 / *refs : 0.0;
      return value_metric(ratio, kCachePercent, "of all cache refs");
    }
    case EventRole::stalled_frontend:
    case EventRole::stalled_backend: {
      // perf: 0 without cycles; the frontend's 0 is left blank, the backend's printed.
      const auto cycles = denominator(EventRole::cycles);
      const double ratio = cycles && *cycles != 0 ? scaled_value / *cycles * 100.0 : 0.0;
      if (role_of(column.event) == EventRole::stalled_frontend) {
        if (ratio == 0) return blank_metric("frontend cycles idle");
        return value_metric(ratio, kPercent, "frontend cycles idle");
      }
      return value_metric(ratio, kPercent, "backend cycles idle");
    }
    case EventRole::l1d_load_misses:
    case EventRole::l1i_load_misses:
    case EventRole::ll_load_misses:
    case EventRole::dtlb_load_misses:
    case EventRole::itlb_load_misses: {
      const CacheRatio& cache = *cache_ratio_of(role_of(column.event));
      const auto loads = denominator(cache.loads);
      if (!loads) return blank_metric(std::string(cache.unit));
      const double ratio = *loads != 0 ? scaled_value / *loads * 100.0 : 0.0;
      return value_metric(ratio, kPercent, std::string(cache.unit));
    }
    case EventRole::branches:
    case EventRole::cache_refs:
    case EventRole::l1d_loads:
    case EventRole::l1i_loads:
    case EventRole::ll_loads:
    case EventRole::dtlb_loads:
    case EventRole::itlb_loads:
    case EventRole::other: {
      const auto ns = denominator(EventRole::clock);
      if (!ns) return Metric{};
      return rate_metric(*ns != 0 ? 1000000000.0 * scaled_value / *ns : 0.0);
    }
  }
  return Metric{};
}

std::optional<Metric> derive_second_metric(const protocol::Column& column, double scaled_value,
                                           const ShadowStats& stats) {
  if (role_of(column.event) != EventRole::instructions) return std::nullopt;
  // perf: the larger of the two stalled counts, per instruction.
  const double frontend = stats.mean(EventRole::stalled_frontend, column.scope).value_or(0);
  const double backend = stats.mean(EventRole::stalled_backend, column.scope).value_or(0);
  const double stalled = std::max(frontend, backend);
  if (stalled == 0 || scaled_value == 0) return std::nullopt;
  return value_metric(stalled / scaled_value, kInsnPerCycle, "stalled cycles per insn");
}

double display_scale(std::string_view event) {
  return role_of(event) == EventRole::clock ? 1e-6 : 1.0;
}

std::string_view display_unit(std::string_view event) {
  return role_of(event) == EventRole::clock ? "msec" : "";
}

}  // namespace perfkvm::report
