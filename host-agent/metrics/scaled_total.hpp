// The monotonic, multiplexing-corrected total of one counter (one vCPU thread, one event, one
// scope), built from successive readings of it. This is what a Prometheus counter exports.
#pragma once

#include <cstdint>
#include <optional>

#include "protocol/messages.hpp"

namespace perfkvm::host::metrics {

// perf's own scaling (raw * time_enabled / time_running, cumulative) is not monotonic: when a
// counter's share of the PMU changes, the cumulative estimate can go down. A Prometheus counter
// must never go down, so the total instead extrapolates each interval between two readings by
// that interval's own share of the PMU, and sums the intervals:
//
//   total += delta_raw * delta_enabled / delta_running
//
// Feed it the readings of ONE counter (one fd: a vCPU's cell of CounterReading::vcpus), not a
// sum over vCPUs (CounterReading::totals), whose times are sums and whose raw is not recoverable.
//
// The rules, one unit test each (tests/unit/metrics/scaled_total_test.cpp):
// - The first reading counts from zero: it adds raw * time_enabled / time_running.
// - raw is recovered from the scaled value exactly: the counters module scales with integer
//   division, floor(raw * enabled / running), and for running <= enabled exactly one integer raw
//   scales to a given value, ceil(value * running / enabled). Not multiplexed (running ==
//   enabled, or no time yet): raw is the value.
// - An interval in which the counter did not run (delta_running == 0) adds nothing: there is no
//   rate to extrapolate from. If time was enabled in it, the running ratio becomes 0.
// - A counter that stops (a reading equal to the previous one: the thread ended, or the counter
//   was disabled) adds nothing and keeps its running ratio: no time passed for it.
// - A new counter (time_enabled or time_running went backwards: the fd was closed and opened
//   again) counts from zero, as a first reading does. Nothing is subtracted.
// - A reset count (raw went backwards while the times went on: PERF_EVENT_IOC_RESET zeroes the
//   count but not the times) adds the new raw, extrapolated by the interval's times.
// - The extrapolation never shrinks a count: an interval whose delta_running is at least its
//   delta_enabled (which the kernel never reports) adds delta_raw, and the ratio is at most 1.
// - No overflow: raw is recovered in 128-bit integers and the total is summed in long double,
//   which holds every integer below 2^64 exactly.
class ScaledTotal {
 public:
  // One reading of the cumulative counter (protocol::Count: value already scaled).
  void add(const protocol::Count& reading);

  // The monotonic total, in counts (not yet multiplied by EventFamily::scale).
  double total() const { return static_cast<double>(total_); }

  // delta_running / delta_enabled over the last interval in which time was enabled: below 1
  // when the counter was multiplexed. nullopt until some time was enabled.
  std::optional<double> running_ratio() const { return running_ratio_; }

 private:
  // The previous reading, unscaled; all zero before the first reading.
  struct Unscaled {
    std::uint64_t raw = 0;
    std::uint64_t enabled = 0;
    std::uint64_t running = 0;
  };
  Unscaled previous_;
  long double total_ = 0;
  std::optional<double> running_ratio_;
};

}  // namespace perfkvm::host::metrics
