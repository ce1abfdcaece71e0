// One counter line in human, CSV or JSON layout, field by field as perf 6.1 prints it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "report/formatter.hpp"
#include "report/metrics.hpp"

namespace perfkvm::report {

struct VcpuLabel {
  std::uint32_t index = 0;
  protocol::VcpuStatus status = protocol::VcpuStatus::running;
};

struct CounterLine {
  std::optional<std::uint64_t> interval_ns;  // interval mode: the time prefix
  std::optional<VcpuLabel> vcpu;             // per-vCPU mode: the row label
  std::string_view event;                    // as received; sanitised or escaped on output
  protocol::Scope scope = protocol::Scope::all;
  // perf's "ok": the counter ran. Otherwise `not_counted_text` replaces the value.
  bool counted = false;
  std::string_view not_counted_text;
  double value = 0;  // scaled for display (msec for clocks)
  std::uint64_t time_enabled = 0;
  std::uint64_t time_running = 0;
  Metric metric;
  // A metric perf prints on a continuation line of its own (derive_second_metric); in human
  // output the noise and the running share then end that line, as in perf.
  std::optional<Metric> second_metric;
  // -r N: the count's noise over the runs, in percent (repeat_summary.hpp).
  std::optional<double> noise_pct;
};

void write_counter_line(const FormatOptions& options, const CounterLine& line, std::string& out);

// The human interval header line, "#           time ... counts unit events".
std::string interval_header(bool per_vcpu);

}  // namespace perfkvm::report
