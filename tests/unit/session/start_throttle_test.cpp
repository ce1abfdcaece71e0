#include <doctest/doctest.h>

#include "host-agent/session/start_throttle.hpp"

using perfkvm::host::StartThrottle;
using namespace std::chrono_literals;

TEST_CASE("a second's worth of starts goes at once, then one per 1/rate") {
  const auto t0 = StartThrottle::Clock::time_point{} + 100s;
  StartThrottle throttle(4, t0);
  for (int i = 0; i < 4; ++i) {
    CHECK(throttle.delay(t0) == 0s);
    throttle.record(t0);
  }
  CHECK(throttle.delay(t0) == 250ms);          // the fifth waits a quarter second
  CHECK(throttle.delay(t0 + 100ms) == 150ms);  // less as time passes
  CHECK(throttle.delay(t0 + 250ms) == 0s);
  throttle.record(t0 + 250ms);
  CHECK(throttle.delay(t0 + 250ms) == 250ms);
}

TEST_CASE("an idle channel earns back no more than one second's worth") {
  const auto t0 = StartThrottle::Clock::time_point{} + 100s;
  StartThrottle throttle(2, t0);
  const auto later = t0 + 1h;
  throttle.record(later);
  throttle.record(later);
  CHECK(throttle.delay(later) == 500ms);
}

TEST_CASE("a rate of 0 is taken as 1 per second, not as a division by zero") {
  const auto t0 = StartThrottle::Clock::time_point{} + 100s;
  StartThrottle throttle(0, t0);
  throttle.record(t0);
  CHECK(throttle.delay(t0) == 1s);
}
