#include "host-agent/metrics/scaled_total.hpp"

#include <algorithm>

namespace perfkvm::host::metrics {

namespace {

// The pedantic warning about __int128 is about ISO C++; GCC and Clang both have it on x86-64
// and arm64, the only hosts KVM + perfkvm target.
__extension__ using Uint128 = unsigned __int128;

// The one raw count that the counters module's scale_count turns into `value`: scale_count
// computes floor(raw * enabled / running), so raw is the smallest integer at least
// value * running / enabled (see the header). 128 bits: value * running overflows 64.
std::uint64_t recover_raw(const protocol::Count& reading) {
  if (reading.time_running >= reading.time_enabled) return reading.value;
  const Uint128 product = static_cast<Uint128>(reading.value) * reading.time_running;
  return static_cast<std::uint64_t>((product + reading.time_enabled - 1) / reading.time_enabled);
}

}  // namespace

void ScaledTotal::add(const protocol::Count& reading) {
  const Unscaled current{recover_raw(reading), reading.time_enabled, reading.time_running};
  // A new counter: its times start again from zero, and so does its count.
  if (current.enabled < previous_.enabled || current.running < previous_.running) previous_ = {};
  // A reset count (times going on): the count since the reset is the new raw.
  const std::uint64_t delta_raw =
      current.raw >= previous_.raw ? current.raw - previous_.raw : current.raw;
  const std::uint64_t delta_enabled = current.enabled - previous_.enabled;
  const std::uint64_t delta_running = current.running - previous_.running;
  previous_ = current;

  if (delta_enabled > 0) {
    running_ratio_ = std::min(1.0, static_cast<double>(delta_running) /
                                       static_cast<double>(delta_enabled));
  }
  if (delta_running == 0) return;  // did not run: nothing to extrapolate from
  if (delta_running >= delta_enabled) {
    total_ += static_cast<long double>(delta_raw);
  } else {
    total_ += static_cast<long double>(delta_raw) * static_cast<long double>(delta_enabled) /
              static_cast<long double>(delta_running);
  }
}

}  // namespace perfkvm::host::metrics
