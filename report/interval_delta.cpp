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

std::uint64_t saturating_sum(std::uint64_t a, std::uint64_t b) {
  return a > std::numeric_limits<std::uint64_t>::max() - b ? std::numeric_limits<std::uint64_t>::max()
                                                            : a + b;
}

// A reading from its raw count and times, scaled as perf_counts_values__scale() does: through
// double, truncated.
protocol::Count scaled_reading(std::uint64_t raw, std::uint64_t time_enabled,
                               std::uint64_t time_running) {
  protocol::Count count{0, time_enabled, time_running};
  if (time_running == 0) {
    count.value = 0;
  } else if (time_running < time_enabled) {
    const double scaled = static_cast<double>(raw) * static_cast<double>(time_enabled) /
                          static_cast<double>(time_running);
    constexpr auto kMax = static_cast<double>(std::numeric_limits<std::uint64_t>::max());
    count.value = scaled >= kMax ? std::numeric_limits<std::uint64_t>::max()
                                 : static_cast<std::uint64_t>(scaled);
  } else {
    count.value = raw;
  }
  return count;
}

}  // namespace

protocol::Cell interval_delta(const protocol::Cell& current, const protocol::Cell& previous) {
  if (!current) return std::nullopt;
  const protocol::Count before = previous.value_or(protocol::Count{});
  return scaled_reading(difference(raw_count(*current), raw_count(before)),
                        difference(current->time_enabled, before.time_enabled),
                        difference(current->time_running, before.time_running));
}

protocol::Cell combined(const protocol::Cell& first, const protocol::Cell& second) {
  if (!first) return second;
  if (!second) return first;
  return scaled_reading(saturating_sum(raw_count(*first), raw_count(*second)),
                        saturating_sum(first->time_enabled, second->time_enabled),
                        saturating_sum(first->time_running, second->time_running));
}

}  // namespace perfkvm::report
