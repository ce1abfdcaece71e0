// What one domain's guests may make hostd open per second, over all of the domain's channels:
// starts (each may cost a /proc scan and a status-XML read, admitted or not) and the counters
// the admitted ones open (each a perf_event_open on hostd's one thread). Per domain rather than
// per channel, so that a guest cannot get a fresh burst by opening another vsock connection;
// charged in counters, so that sixteen starts of 4,096 counters do not cost what sixteen of one
// do. A start beyond either rate is refused at once with rate-limited and when to retry
// (PROTOCOL.md §6.2): nothing a guest sends ever waits on hostd's side.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "util/token_bucket.hpp"

namespace perfkvm::host {

struct RateRefusal {
  std::uint32_t retry_after_ms;  // >= 1
  std::string message;
};

class StartBudget {
 public:
  using Clock = TokenBucket::Clock;

  // Bursts of a second's worth of each.
  StartBudget(std::uint32_t starts_per_second, std::uint32_t counters_per_second,
              Clock::time_point now = Clock::now());

  // A start that arrived now: charged whether it is then admitted or not; refused when the
  // domain's start rate is spent.
  std::optional<RateRefusal> charge_start(Clock::time_point now);
  // The counters an admitted start would open: charged when within the rate, refused (and not
  // charged: nothing is opened) otherwise.
  std::optional<RateRefusal> charge_counters(std::uint64_t counters, Clock::time_point now);

 private:
  std::uint32_t starts_per_second_;
  std::uint32_t counters_per_second_;
  TokenBucket starts_;
  TokenBucket counters_;
};

}  // namespace perfkvm::host
