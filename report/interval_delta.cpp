#include "report/interval_delta.hpp"

#include <cmath>
#include <cstdint>
#include <limits>

namespace perfkvm::report {
namespace {

std::uint64_t difference(std::uint64_t later, std::uint64_t earlier) {
  return later > earlier ? later - earlier : 0;
}

// Undoes the host's multiplexing scaling: raw = value * running / enabled.
std::uint64_t raw_count(const protocol::Count& count) {
  if (count.time_running == 0) return 0;
  if (count.time_running >= count.time_enabled) return count.value;
  const long double raw = std::round(static_cast<long double>(count.value) * count.time_running /
                                     count.time_enabled);
  return static_cast<std::uint64_t>(raw);  // raw <= value, so it fits
}

}  // namespace

protocol::Cell interval_delta(const protocol::Cell& current, const protocol::Cell& previous) {
  if (!current) return std::nullopt;
  const protocol::Count before = previous.value_or(protocol::Count{});
  protocol::Count delta;
  delta.time_enabled = difference(current->time_enabled, before.time_enabled);
  delta.time_running = difference(current->time_running, before.time_running);
  const std::uint64_t raw = difference(raw_count(*current), raw_count(before));
  if (delta.time_running == 0) {
    delta.value = 0;
  } else if (delta.time_running < delta.time_enabled) {
    // perf_counts_values__scale(): through double, truncated.
    const double scaled = static_cast<double>(raw) * static_cast<double>(delta.time_enabled) /
                          static_cast<double>(delta.time_running);
    constexpr auto kMax = static_cast<double>(std::numeric_limits<std::uint64_t>::max());
    delta.value = scaled >= kMax ? std::numeric_limits<std::uint64_t>::max()
                                 : static_cast<std::uint64_t>(scaled);
  } else {
    delta.value = raw;
  }
  return delta;
}

}  // namespace perfkvm::report
