#include "host-agent/session/start_budget.hpp"

#include <algorithm>

namespace perfkvm::host {

namespace {

std::uint32_t retry_after_ms(TokenBucket::Clock::duration delay) {
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(delay).count();
  return static_cast<std::uint32_t>(std::clamp<std::int64_t>(ms, 1, 3'600'000));
}

}  // namespace

StartBudget::StartBudget(std::uint32_t starts_per_second, std::uint32_t counters_per_second,
                         Clock::time_point now)
    : starts_per_second_(std::max<std::uint32_t>(starts_per_second, 1)),
      counters_per_second_(std::max<std::uint32_t>(counters_per_second, 1)),
      starts_(starts_per_second_, now),
      counters_(counters_per_second_, now) {}

std::optional<RateRefusal> StartBudget::charge_start(Clock::time_point now) {
  if (const auto delay = starts_.delay(now); delay.count() > 0) {
    const auto retry = retry_after_ms(delay);
    return RateRefusal{retry, "this domain may start " + std::to_string(starts_per_second_) +
                                  " requests per second (perfkvm-hostd --max-starts); retry in " +
                                  std::to_string(retry) + " ms"};
  }
  starts_.record(now);
  return std::nullopt;
}

std::optional<RateRefusal> StartBudget::charge_counters(std::uint64_t counters,
                                                        Clock::time_point now) {
  const auto cost = static_cast<double>(counters);
  if (const auto delay = counters_.delay(now, cost); delay.count() > 0) {
    const auto retry = retry_after_ms(delay);
    return RateRefusal{retry, "this domain may open " + std::to_string(counters_per_second_) +
                                  " counters per second (perfkvm-hostd --max-counter-opens), "
                                  "this start needs " + std::to_string(counters) +
                                  "; retry in " + std::to_string(retry) + " ms"};
  }
  counters_.record(now, cost);
  return std::nullopt;
}

}  // namespace perfkvm::host
