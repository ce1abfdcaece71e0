#include <doctest/doctest.h>

#include "report/metrics.hpp"

using namespace perfkvm::report;
using perfkvm::protocol::Column;
using perfkvm::protocol::Scope;

namespace {

// A counted column (Column has more fields than the tests care about).
Column column(std::string event, Scope scope = Scope::all) {
  Column result;
  result.event = std::move(event);
  result.scope = scope;
  return result;
}
}  // namespace

TEST_CASE("roles follow the catalogue's perf type and config") {
  CHECK(role_of("task-clock") == EventRole::clock);
  CHECK(role_of("cpu-clock") == EventRole::clock);
  CHECK(role_of("cpu-cycles") == EventRole::cycles);
  CHECK(role_of("cycles") == EventRole::cycles);  // alias
  CHECK(role_of("branch-misses") == EventRole::branch_misses);
  CHECK(role_of("ref-cycles") == EventRole::other);
  CHECK(role_of("page-faults") == EventRole::other);
  CHECK(role_of("no-such-event") == EventRole::other);
}

TEST_CASE("guest-scope events pair with guest-scope events; host scope shares perf's default") {
  ShadowStats stats;
  stats.record(column("cpu-cycles", Scope::guest), 1000);
  stats.record(column("cpu-cycles", Scope::host), 4000);
  CHECK(stats.mean(EventRole::cycles, Scope::guest) == 1000.0);
  CHECK(stats.mean(EventRole::cycles, Scope::host) == 4000.0);
  // perf's contexts: exclude_guest (host) is not a context bit, so "all" sees host readings.
  CHECK(stats.mean(EventRole::cycles, Scope::all) == 4000.0);
  CHECK_FALSE(stats.mean(EventRole::branches, Scope::all).has_value());
}

TEST_CASE("two clocks are averaged, as perf's shadow stats are") {
  ShadowStats stats;
  stats.record(column("task-clock"), 1000);
  stats.record(column("cpu-clock"), 3000);
  CHECK(stats.mean(EventRole::clock, Scope::guest) == 2000.0);  // the clock has no context
  const Metric rate = derive_metric(column("context-switches"), 4, stats, 1);
  REQUIRE(rate.kind == Metric::Kind::value);
  CHECK(rate.value == doctest::Approx(2.0));  // 4 per 2000 ns = 2e6/s
  CHECK(rate.unit == "M/sec");
}

TEST_CASE("metrics without a denominator are blank, never a division by zero") {
  const ShadowStats none;
  CHECK(derive_metric(column("task-clock"), 1.0, none, 0).kind == Metric::Kind::blank);
  CHECK(derive_metric(column("cpu-cycles"), 1.0, none, 1).kind == Metric::Kind::blank);
  CHECK(derive_metric(column("cpu-cycles"), 1.0, none, 1).unit == "Ghz");  // perf's spelling
  CHECK(derive_metric(column("instructions"), 1.0, none, 1).kind == Metric::Kind::blank);
  CHECK(derive_metric(column("branch-misses"), 1.0, none, 1).kind == Metric::Kind::blank);
  CHECK(derive_metric(column("page-faults"), 1.0, none, 1).kind == Metric::Kind::none);

  ShadowStats zeros;
  zeros.record(column("branches"), 0);
  zeros.record(column("task-clock"), 0);
  const Metric branch = derive_metric(column("branch-misses"), 5.0, zeros, 1);
  REQUIRE(branch.kind == Metric::Kind::value);  // perf prints 0.00% when branches counted 0
  CHECK(branch.value == 0.0);
  const Metric rate = derive_metric(column("page-faults"), 5.0, zeros, 1);
  REQUIRE(rate.kind == Metric::Kind::value);
  CHECK(rate.value == 0.0);
  CHECK(rate.unit == "/sec");
}

TEST_CASE("rates step through K, M and G above 1000") {
  ShadowStats stats;
  stats.record(column("task-clock"), 1000000000);  // one second
  const auto rate = [&](double count) { return derive_metric(column("page-faults"), count, stats, 1); };
  CHECK(rate(1000).unit == "/sec");  // perf: strictly above 1000
  CHECK(rate(1001).unit == "K/sec");
  CHECK(rate(2.5e6).unit == "M/sec");
  CHECK(rate(2.5e6).value == doctest::Approx(2.5));
  CHECK(rate(7e12).unit == "G/sec");
  CHECK(rate(7e12).value == doctest::Approx(7000.0));
}
