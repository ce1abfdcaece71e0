// Readings for the region-of-interest tests: one column on one vCPU, task-clock-like: at t
// seconds the counter reads 0.5 t s (half a CPU busy), unmultiplexed.
#pragma once

#include <cstdint>

#include "protocol/messages.hpp"

namespace perfkvm::test {

inline constexpr std::uint64_t kSecond = 1'000'000'000;

inline protocol::Sample at(double seconds) {
  protocol::Sample sample;
  sample.elapsed_ns = static_cast<std::uint64_t>(seconds * kSecond);
  sample.totals = {protocol::Count{sample.elapsed_ns / 2, sample.elapsed_ns, sample.elapsed_ns}};
  sample.vcpus = {{0, protocol::VcpuStatus::running, sample.totals}};
  return sample;
}

// The request's last reading at `seconds`, two samples dropped on the way.
inline protocol::Report report_at(double seconds) {
  const auto last = at(seconds);
  protocol::Report report;
  report.duration_ns = last.elapsed_ns;
  report.columns = {{"task-clock", protocol::Scope::all, protocol::ColumnStatus::counted, ""}};
  report.totals = last.totals;
  report.vcpus = last.vcpus;
  report.samples_dropped = 2;
  return report;
}

}  // namespace perfkvm::test
