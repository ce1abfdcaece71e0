#include "host-agent/metrics/scaled_total.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>

namespace {

using perfkvm::host::metrics::ScaledTotal;
using perfkvm::protocol::Count;

// The Count the counters module makes of a raw count: floor(raw * enabled / running), as its
// scale_count does (exact here for the small numbers the tests use).
Count reading(std::uint64_t raw, std::uint64_t enabled, std::uint64_t running) {
  const std::uint64_t value = running == 0 ? 0 : raw * enabled / running;
  return Count{value, enabled, running};
}

}  // namespace

TEST_CASE("ScaledTotal: the first reading counts from zero") {
  ScaledTotal total;
  CHECK(total.total() == 0);
  CHECK_FALSE(total.running_ratio().has_value());
  SUBCASE("not multiplexed") {
    total.add(reading(1000, 500, 500));
    CHECK(total.total() == 1000);
    CHECK(total.running_ratio() == 1.0);
  }
  SUBCASE("multiplexed: the raw count extrapolated to the enabled time") {
    total.add(reading(100, 1000, 500));
    CHECK(total.total() == 200);
    CHECK(total.running_ratio() == 0.5);
  }
  SUBCASE("no time yet: nothing counted, no ratio") {
    total.add(Count{0, 0, 0});
    CHECK(total.total() == 0);
    CHECK_FALSE(total.running_ratio().has_value());
  }
}

TEST_CASE("ScaledTotal: each interval is extrapolated by its own share of the PMU") {
  ScaledTotal total;
  total.add(reading(100, 1000, 500));
  CHECK(total.total() == 200);
  // Running half of the enabled time: the raw delta (200) counts double.
  total.add(reading(300, 2000, 1000));
  CHECK(total.total() == 600);
  CHECK(total.running_ratio() == 0.5);
  // Running all of the next interval: its raw delta (50) counts once. perf's cumulative
  // estimate, 350 * 3000 / 2000 = 525, went down from 600; the total does not.
  const Count third = reading(350, 3000, 2000);
  CHECK(third.value == 525);
  total.add(third);
  CHECK(total.total() == 650);
  CHECK(total.running_ratio() == 1.0);
}

TEST_CASE("ScaledTotal: the raw count is recovered exactly from the rounded scaled value") {
  // raw 7 at 2 of 3 time units: scaled to floor(10.5) = 10. The one raw that scales to 10 is 7,
  // extrapolated to 10.5; 10 * 2 / 3 = 6.67 would give 10.
  ScaledTotal total;
  const Count first = reading(7, 3, 2);
  REQUIRE(first.value == 10);
  total.add(first);
  CHECK(total.total() == 10.5);
  total.add(reading(8, 6, 4));  // raw delta 1 over 3 enabled, 2 running
  CHECK(total.total() == 12);
}

TEST_CASE("ScaledTotal: an interval in which the counter did not run adds nothing") {
  ScaledTotal total;
  total.add(reading(0, 1000, 0));  // enabled, never on the PMU
  CHECK(total.total() == 0);
  CHECK(total.running_ratio() == 0.0);
  total.add(reading(50, 3000, 500));  // raw 50, running 500 of 2000 enabled: 50 * 2000 / 500
  CHECK(total.total() == 200);
  CHECK(total.running_ratio() == 0.25);
  // Enabled on, not running: perf's estimate grows (50 * 4000 / 500 = 400) with nothing counted.
  const Count idle = reading(50, 4000, 500);
  CHECK(idle.value == 400);
  total.add(idle);
  CHECK(total.total() == 200);
  CHECK(total.running_ratio() == 0.0);
}

TEST_CASE("ScaledTotal: a counter that stops adds nothing and keeps its ratio") {
  ScaledTotal total;
  total.add(reading(100, 1000, 500));
  total.add(reading(300, 2000, 1000));
  REQUIRE(total.total() == 600);
  for (int i = 0; i < 3; ++i) {
    total.add(reading(300, 2000, 1000));  // the thread ended: its final reading, again
    CHECK(total.total() == 600);
    CHECK(total.running_ratio() == 0.5);
  }
}

TEST_CASE("ScaledTotal: a reset re-bases without subtracting") {
  ScaledTotal total;
  SUBCASE("a new counter (its times went backwards) counts from zero") {
    total.add(reading(1000, 1000, 1000));
    total.add(reading(1500, 2000, 2000));
    REQUIRE(total.total() == 1500);
    total.add(reading(300, 400, 400));  // the fd opened again: 300 since
    CHECK(total.total() == 1800);
    total.add(reading(100, 200, 100));  // and again, multiplexed: 100 * 200 / 100
    CHECK(total.total() == 2000);
    CHECK(total.running_ratio() == 0.5);
  }
  SUBCASE("a reset count (raw went backwards, the times on) adds the new raw") {
    total.add(reading(100, 1000, 500));
    REQUIRE(total.total() == 200);
    total.add(reading(40, 2000, 1000));  // PERF_EVENT_IOC_RESET, then 40 in half the interval
    CHECK(total.total() == 280);
    total.add(reading(90, 3000, 1500));  // and on from the reset: 50 more, doubled
    CHECK(total.total() == 380);
  }
}

TEST_CASE("ScaledTotal: running longer than enabled never shrinks a count") {
  // The kernel never says so; if a reading did, 100 * 50 / 100 would halve the count.
  ScaledTotal total;
  total.add(Count{100, 50, 100});
  CHECK(total.total() == 100);
  CHECK(total.running_ratio() == 1.0);
}

TEST_CASE("ScaledTotal: no overflow near 2^64") {
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  constexpr std::uint64_t k2p63 = std::uint64_t{1} << 63;
  constexpr std::uint64_t k2p62 = std::uint64_t{1} << 62;
  SUBCASE("recovering raw: value * running needs more than 64 bits") {
    ScaledTotal total;
    total.add(Count{k2p63, k2p63, k2p62});  // raw 2^62, running half the time
    CHECK(total.total() == 9223372036854775808.0);  // 2^63
    CHECK(total.running_ratio() == 0.5);
  }
  SUBCASE("increments past 2^53 are not lost, as they would be summing in double") {
    constexpr std::uint64_t k2p53 = std::uint64_t{1} << 53;
    ScaledTotal total;
    total.add(Count{k2p53, 1, 1});
    total.add(Count{k2p53 + 1, 2, 2});  // 2^53 + 1 in double is 2^53
    total.add(Count{k2p53 + 2, 3, 3});
    CHECK(total.total() == 9007199254740994.0);  // 2^53 + 2
  }
  SUBCASE("the total goes past 2^64") {
    ScaledTotal total;
    total.add(Count{kMax, kMax, kMax});
    CHECK(total.total() == 18446744073709551615.0);
    total.add(Count{kMax, 1, 1});  // a new counter, as large
    CHECK(total.total() == 2 * 18446744073709551615.0);
  }
}
