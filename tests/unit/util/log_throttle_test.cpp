#include "util/log_throttle.hpp"

#include <doctest/doctest.h>

using namespace std::chrono_literals;
using perfkvm::LogThrottle;

TEST_CASE("log throttle: one line per period, the next one counts those suppressed") {
  LogThrottle throttle(1s);
  const auto t0 = LogThrottle::Clock::time_point{} + 100s;
  CHECK(throttle.admit(t0) == std::optional<std::string>(""));
  CHECK_FALSE(throttle.admit(t0 + 10ms));
  CHECK_FALSE(throttle.admit(t0 + 999ms));
  CHECK(throttle.admit(t0 + 1s) == std::optional<std::string>(" (2 similar messages suppressed)"));
  CHECK(throttle.admit(t0 + 5s) == std::optional<std::string>(""));  // nothing in between
}
