// Opening counters is the one thing a guest can make hostd do that costs real work (a
// perf_event_open per column and vCPU thread), so each channel may start only so many
// requests per second: a token bucket, as large as one second's worth. A start beyond the
// rate is not refused, it waits, so a fast guest loop slows down and loses nothing.
#pragma once

#include <chrono>
#include <cstdint>

namespace perfkvm::host {

class StartThrottle {
 public:
  using Clock = std::chrono::steady_clock;

  explicit StartThrottle(std::uint32_t per_second, Clock::time_point now = Clock::now());

  // How long the next start must wait; zero while this channel is within the rate.
  Clock::duration delay(Clock::time_point now) const;
  // A start that opened counters.
  void record(Clock::time_point now);

 private:
  double tokens_at(Clock::time_point now) const;

  double per_second_;
  double tokens_;
  Clock::time_point last_;
};

}  // namespace perfkvm::host
