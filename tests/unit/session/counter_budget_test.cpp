#include <doctest/doctest.h>

#include "host-agent/session/counter_budget.hpp"

using perfkvm::host::CounterBudget;

TEST_CASE("counters are taken while they fit and given back when their share ends") {
  CounterBudget budget(10);
  auto first = budget.take(6);
  REQUIRE(first);
  CHECK(budget.in_use() == 6);
  CHECK_FALSE(budget.take(5));  // 11 > 10: refused, nothing taken
  CHECK(budget.in_use() == 6);
  {
    auto second = budget.take(4);  // exactly up to the limit
    REQUIRE(second);
    CHECK(budget.in_use() == 10);
    CHECK_FALSE(budget.take(1));
  }
  CHECK(budget.in_use() == 6);
  *first = {};  // given back early, as a request does when its counters close
  CHECK(budget.in_use() == 0);
  CHECK(budget.take(10));
  CHECK(budget.in_use() == 0);  // that share was a temporary
}

TEST_CASE("a moved share is given back once; one that outlives its budget is harmless") {
  std::optional<CounterBudget::Share> kept;
  {
    CounterBudget budget(8);
    auto share = budget.take(3);
    REQUIRE(share);
    CounterBudget::Share moved = std::move(*share);
    CHECK(moved.count() == 3);
    CHECK(share->count() == 0);
    share.reset();
    CHECK(budget.in_use() == 3);
    kept = std::move(moved);
    CHECK(budget.in_use() == 3);
    budget.set_limit(2);  // lowered below what is in use: no new share fits
    CHECK_FALSE(budget.take(1));
  }
  CHECK(kept->count() == 3);
  kept.reset();  // the budget is gone; its state lives until the last share
}

TEST_CASE("a request larger than the whole budget is refused without overflow") {
  CounterBudget budget(5);
  CHECK_FALSE(budget.take(6));
  CHECK_FALSE(budget.take(UINT64_MAX));
  CHECK(budget.in_use() == 0);
}
