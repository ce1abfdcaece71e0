// A token bucket: events at a steady rate, with bursts up to a size; delay() says how long an
// event beyond the rate would have to wait, and the caller decides whether it waits or is
// refused. An event may cost more than one token (a start that opens 300 counters). hostd
// bounds with it what a peer can make it do at a cost: a domain's starts and the counters they
// open (refused, with the delay as retry-after; start_budget.hpp), the metrics endpoint's
// accepts (delayed).
#pragma once

#include <chrono>
#include <cstdint>

namespace perfkvm {

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;

  // `per_second` events per second (0 is taken as 1), bursts of `burst` (0: one second's
  // worth); full at `now`.
  explicit TokenBucket(std::uint32_t per_second, Clock::time_point now = Clock::now(),
                       std::uint32_t burst = 0);

  // How long the next event of `cost` tokens must wait; zero while within the rate. A cost
  // above the burst is taken as the burst: such an event passes when the bucket is full.
  Clock::duration delay(Clock::time_point now, double cost = 1.0) const;
  // An event that happened.
  void record(Clock::time_point now, double cost = 1.0);

 private:
  double tokens_at(Clock::time_point now) const;

  double per_second_;
  double burst_;
  double tokens_;
  Clock::time_point last_;
};

}  // namespace perfkvm
