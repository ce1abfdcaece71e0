#include <doctest/doctest.h>

#include "util/token_bucket.hpp"

using perfkvm::TokenBucket;
using namespace std::chrono_literals;

TEST_CASE("token bucket: a second's worth goes at once, then one per 1/rate") {
  const auto t0 = TokenBucket::Clock::time_point{} + 100s;
  TokenBucket throttle(4, t0);
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

TEST_CASE("token bucket: an idle peer earns back no more than one second's worth") {
  const auto t0 = TokenBucket::Clock::time_point{} + 100s;
  TokenBucket throttle(2, t0);
  const auto later = t0 + 1h;
  throttle.record(later);
  throttle.record(later);
  CHECK(throttle.delay(later) == 500ms);
}

TEST_CASE("token bucket: a rate of 0 is taken as 1 per second, not as a division by zero") {
  const auto t0 = TokenBucket::Clock::time_point{} + 100s;
  TokenBucket throttle(0, t0);
  throttle.record(t0);
  CHECK(throttle.delay(t0) == 1s);
}

TEST_CASE("token bucket: a burst smaller than a second's worth") {
  const auto t0 = TokenBucket::Clock::time_point{} + 100s;
  TokenBucket bucket(100, t0, 3);
  for (int i = 0; i < 3; ++i) {
    CHECK(bucket.delay(t0) == 0s);
    bucket.record(t0);
  }
  CHECK(bucket.delay(t0) == 10ms);
  // Idle for an hour: still no more than the burst.
  const auto later = t0 + 1h;
  for (int i = 0; i < 3; ++i) bucket.record(later);
  CHECK(bucket.delay(later) == 10ms);
}

TEST_CASE("token bucket: events that cost many tokens; a cost above the burst passes when full") {
  const auto t0 = TokenBucket::Clock::time_point{} + 100s;
  TokenBucket bucket(1000, t0);  // 1,000 tokens a second, a burst of 1,000
  CHECK(bucket.delay(t0, 600) == 0s);
  bucket.record(t0, 600);
  CHECK(bucket.delay(t0, 400) == 0s);
  CHECK(bucket.delay(t0, 500) == 100ms);  // 100 tokens short at 1,000 a second
  bucket.record(t0, 400);
  // 5,000 tokens can never be in a bucket of 1,000: taken as the burst, so once full it passes.
  CHECK(bucket.delay(t0, 5000) == 1s);
  CHECK(bucket.delay(t0 + 1s, 5000) == 0s);
  bucket.record(t0 + 1s, 5000);
  CHECK(bucket.delay(t0 + 1s) == 1ms);
}
