// Derived metrics ("shadow stats" in perf): the "# 1.23 insn per cycle" part of a line.
// Reproduces perf 6.1's tools/perf/util/stat-shadow.c for the events of the perfkvm catalogue:
// which metric an event gets, what it divides by, and its printf format.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/messages.hpp"

namespace perfkvm::report {

// What perf's shadow-stat code recognises an event as.
enum class EventRole {
  clock,          // task-clock, cpu-clock: printed in msec, "CPUs utilized"
  cycles,         // "GHz" against the clock
  instructions,   // "insn per cycle" against cycles
  branches,       // denominator of branch-misses
  branch_misses,  // "of all branches"
  cache_refs,     // denominator of cache-misses
  cache_misses,   // "of all cache refs"
  stalled_frontend,  // "frontend cycles idle" against cycles
  stalled_backend,   // "backend cycles idle" against cycles
  // Hardware cache events: each read-miss event against its cache's read accesses.
  l1d_loads,
  l1d_load_misses,   // "of all L1-dcache accesses"
  l1i_loads,
  l1i_load_misses,   // "of all L1-icache accesses"
  ll_loads,
  ll_load_misses,    // "of all LL-cache accesses"
  dtlb_loads,
  dtlb_load_misses,  // "of all dTLB cache accesses"
  itlb_loads,
  itlb_load_misses,  // "of all iTLB cache accesses"
  other,          // "/sec" against the clock, if there is one
};
inline constexpr std::size_t kEventRoles = static_cast<std::size_t>(EventRole::other) + 1;

// By the catalogue's perf type and config; names outside the catalogue are `other`.
EventRole role_of(std::string_view event);

// The readings one group of lines (the totals, or one vCPU) offers as denominators.
// perf keys them by an exclusion context: exclude_host (our guest scope) is a context of its
// own, while the host scope (exclude_guest) shares perf's default context with scope all. The
// clock is context-free. Several readings of one kind are averaged, as perf's stats do.
class ShadowStats {
 public:
  // A reading that counted (time_running > 0); value already scaled, clock values in ns.
  void record(const protocol::Column& column, std::uint64_t value);

  // Mean of the readings of `role` comparable with a column of `scope`; none without readings.
  std::optional<double> mean(EventRole role, protocol::Scope scope) const;

 private:
  struct Sum {
    double total = 0;
    std::uint64_t readings = 0;
  };
  // [role][context]; context 1 = exclude_host (guest scope), 0 = everything else.
  std::array<std::array<Sum, 2>, kEventRoles> sums_{};
};

// A printf format such as "%7.2f%%": width 7, precision 2, suffix "%".
struct MetricFormat {
  int width = 0;
  int precision = 0;
  std::string_view suffix;
};

struct Metric {
  enum class Kind {
    none,     // no metric: blank in human output, empty fields in CSV
    blank,    // perf knows the metric but lacks a denominator: blank, yet JSON names the unit
    value,    // printed
  };
  Kind kind = Kind::none;
  double value = 0;
  MetricFormat format;
  std::string unit;
};

// The metric of one line. `scaled_value` is what the line prints (msec for clocks), `wall_ns`
// the elapsed time the line covers (report duration or interval length).
Metric derive_metric(const protocol::Column& column, double scaled_value, const ShadowStats& stats,
                     std::uint64_t wall_ns);

// A metric perf prints on a line of its own below the event's (its new_line): instructions get
// "stalled cycles per insn" when a stalled-cycles event counted too. None for other events.
std::optional<Metric> derive_second_metric(const protocol::Column& column, double scaled_value,
                                           const ShadowStats& stats);

// The multiplier perf applies before printing: 1e-6 for clocks (ns -> msec), else 1.
double display_scale(std::string_view event);

// "msec" for clocks, "" for every other event.
std::string_view display_unit(std::string_view event);

}  // namespace perfkvm::report
