#include <doctest/doctest.h>

#include "report/interval_delta.hpp"

using perfkvm::protocol::Cell;
using perfkvm::protocol::Count;
using perfkvm::report::interval_delta;

TEST_CASE("without multiplexing the delta is the plain difference") {
  const Cell delta = interval_delta(Count{1500, 2000, 2000}, Count{1000, 1000, 1000});
  REQUIRE(delta);
  CHECK(*delta == Count{500, 1000, 1000});
}

TEST_CASE("multiplexed readings are unscaled, subtracted and rescaled by the interval's ratio") {
  // raw 1e9 at 50% -> 2e9; raw 1.6e9 at 62.5% -> 2.56e9. The interval counted raw 6e8 in
  // 7.5e8 of 1e9 ns: 8e8, where subtracting the scaled values would claim 5.6e8.
  const Cell delta =
      interval_delta(Count{2560000000, 2000000000, 1250000000}, Count{2000000000, 1000000000, 500000000});
  REQUIRE(delta);
  CHECK(*delta == Count{800000000, 1000000000, 750000000});
}

TEST_CASE("the first interval is the difference from zero") {
  const Cell first = Count{2000000000, 1000000000, 500000000};
  CHECK(interval_delta(first, std::nullopt) == first);
}

TEST_CASE("no current reading, no delta") {
  CHECK_FALSE(interval_delta(std::nullopt, Count{1, 1, 1}).has_value());
}

TEST_CASE("an interval in which the counter never ran has value 0") {
  const Cell delta = interval_delta(Count{500, 900, 900}, Count{500, 900, 900});
  REQUIRE(delta);
  CHECK(*delta == Count{0, 0, 0});
}

TEST_CASE("readings that go backwards give zero, not a wrapped number") {
  const Cell delta = interval_delta(Count{10, 100, 100}, Count{20, 200, 200});
  REQUIRE(delta);
  CHECK(*delta == Count{0, 0, 0});
}

TEST_CASE("combined: two disjoint periods add their raw counts and times, scaled together") {
  using perfkvm::report::combined;
  // Unmultiplexed: plain sums.
  CHECK(combined(Count{100, 10, 10}, Count{50, 5, 5}) == Cell(Count{150, 15, 15}));
  // Raw 100 (ran 10 of 20) + raw 50 (ran 5 of 5): raw 150 over 15 of 25 -> 250.
  CHECK(combined(Count{200, 20, 10}, Count{50, 5, 5}) == Cell(Count{250, 25, 15}));
  // A missing reading adds nothing.
  CHECK(combined(Count{7, 1, 1}, std::nullopt) == Cell(Count{7, 1, 1}));
  CHECK(combined(std::nullopt, Count{7, 1, 1}) == Cell(Count{7, 1, 1}));
  CHECK_FALSE(combined(std::nullopt, std::nullopt).has_value());
}
