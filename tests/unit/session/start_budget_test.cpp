// A domain's start budget (start_budget.hpp): starts charged whether admitted or not, counters
// charged by what an admitted start opens, each refusal saying which budget and when to retry.
#include <doctest/doctest.h>

#include "host-agent/session/start_budget.hpp"

using namespace std::chrono_literals;
using perfkvm::host::StartBudget;

namespace {
const auto t0 = StartBudget::Clock::time_point{} + 100s;
}

TEST_CASE("start budget: a second's worth of starts at once, then one per 1/rate; each is "
          "charged when it arrives") {
  StartBudget budget(4, 1'000'000, t0);
  for (int i = 0; i < 4; ++i) CHECK_FALSE(budget.charge_start(t0));
  const auto refused = budget.charge_start(t0);
  REQUIRE(refused);
  CHECK(refused->retry_after_ms == 250);
  CHECK(refused->message ==
        "this domain may start 4 requests per second (perfkvm-hostd --max-starts); retry in "
        "250 ms");
  // A refused start is not charged: after the advertised wait the next one passes.
  CHECK_FALSE(budget.charge_start(t0 + 250ms));
  CHECK(budget.charge_start(t0 + 250ms));
}

TEST_CASE("start budget: counters are charged by what a start opens; a refused start opens "
          "nothing and is not charged") {
  StartBudget budget(1000, 100, t0);
  CHECK_FALSE(budget.charge_counters(60, t0));
  const auto refused = budget.charge_counters(60, t0);  // 40 left
  REQUIRE(refused);
  CHECK(refused->retry_after_ms == 200);  // 20 short at 100 a second
  CHECK(refused->message ==
        "this domain may open 100 counters per second (perfkvm-hostd --max-counter-opens), this "
        "start needs 60; retry in 200 ms");
  CHECK_FALSE(budget.charge_counters(40, t0));
  // One start larger than a second's worth still passes, once the budget is full.
  CHECK(budget.charge_counters(5000, t0 + 500ms));
  CHECK_FALSE(budget.charge_counters(5000, t0 + 1s));
}
