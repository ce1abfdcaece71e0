// The Prometheus metric family of one perf event counted on vCPU threads, and the name rules of
// the exposition formats. Pure functions.
#pragma once

#include <string>
#include <string_view>

#include "protocol/events.hpp"

namespace perfkvm::host::metrics {

// How one perf event is exported. The names are a contract: dashboards and alerts query them.
struct EventFamily {
  // The family name as OpenMetrics names it, without the counter's _total suffix:
  // "perfkvm_vcpu_" + the event's canonical name in lower case with every character that a
  // metric name cannot hold ('-', '.', ':' ...) turned into '_', then "_<unit>" if it has one.
  // e.g. perfkvm_vcpu_instructions, perfkvm_vcpu_task_clock_seconds.
  std::string name;
  // "seconds" for the clocks perf counts in nanoseconds (task-clock, cpu-clock), else "".
  std::string unit;
  // What a count is divided by to give the sample value: 1e9 for the nanosecond clocks
  // (Prometheus wants base units), else 1. A division, not a multiplication by 1e-9, which is
  // inexact: 132380442 ns prints as 0.132380442, not 0.13238044200000001.
  double divisor = 1;
  // The HELP text: the catalogue's description, the event and where it is counted.
  std::string help;
};

// The family of `event` (any EventInfo, not only the catalogue's: the name rule is total).
EventFamily family_for_event(const protocol::EventInfo& event);

// [a-zA-Z_:][a-zA-Z0-9_:]*, as both formats define a metric name.
bool is_valid_metric_name(std::string_view name);

// [a-zA-Z_][a-zA-Z0-9_]*, and not starting with "__", which Prometheus reserves for itself.
bool is_valid_label_name(std::string_view name);

}  // namespace perfkvm::host::metrics
