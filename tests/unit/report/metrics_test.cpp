#include <doctest/doctest.h>

#include "report/metrics.hpp"
#include "test_columns.hpp"

using namespace perfkvm::report;
using perfkvm::protocol::Column;
using perfkvm::protocol::Scope;

using perfkvm::test::column;

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

TEST_CASE("cache events: only a cache's read misses get a ratio, against its read accesses") {
  CHECK(role_of("L1-dcache-loads") == EventRole::l1d_loads);
  CHECK(role_of("L1-dcache-load-misses") == EventRole::l1d_load_misses);
  CHECK(role_of("LLC-load-misses") == EventRole::ll_load_misses);
  CHECK(role_of("iTLB-loads") == EventRole::itlb_loads);
  // perf matches the whole config: stores, prefetches and the branch unit are plain counts.
  CHECK(role_of("L1-dcache-stores") == EventRole::other);
  CHECK(role_of("L1-dcache-prefetch-misses") == EventRole::other);
  CHECK(role_of("branch-load-misses") == EventRole::other);
  CHECK(role_of("stalled-cycles-frontend") == EventRole::stalled_frontend);
  CHECK(role_of("idle-cycles-backend") == EventRole::stalled_backend);

  ShadowStats stats;
  stats.record(column("LLC-loads"), 400);
  const Metric misses = derive_metric(column("LLC-load-misses"), 100, stats, 1);
  REQUIRE(misses.kind == Metric::Kind::value);
  CHECK(misses.value == doctest::Approx(25.0));
  CHECK(misses.unit == "of all LL-cache accesses");
  // A live perf stat feeds no reading of an unsupported event to its shadow stats: the ratio
  // has no denominator and stays blank (JSON still names the unit).
  const Metric no_loads = derive_metric(column("L1-icache-load-misses"), 100, stats, 1);
  CHECK(no_loads.kind == Metric::Kind::blank);
  CHECK(no_loads.unit == "of all L1-icache accesses");
  // A guest-scope miss pairs with guest-scope loads only.
  CHECK(derive_metric(column("LLC-load-misses", Scope::guest), 100, stats, 1).kind ==
        Metric::Kind::blank);
}

TEST_CASE("stalled cycles: idle shares of the cycles, and stalled cycles per instruction") {
  ShadowStats none;
  // Without cycles perf's ratio is 0: the frontend's left blank, the backend's printed.
  CHECK(derive_metric(column("stalled-cycles-frontend"), 50, none, 1).kind == Metric::Kind::blank);
  const Metric backend_alone = derive_metric(column("stalled-cycles-backend"), 50, none, 1);
  REQUIRE(backend_alone.kind == Metric::Kind::value);
  CHECK(backend_alone.value == 0);
  CHECK(backend_alone.unit == "backend cycles idle");

  ShadowStats stats;
  stats.record(column("cpu-cycles"), 1000);
  stats.record(column("stalled-cycles-frontend"), 200);
  stats.record(column("stalled-cycles-backend"), 300);
  const Metric frontend = derive_metric(column("stalled-cycles-frontend"), 200, stats, 1);
  REQUIRE(frontend.kind == Metric::Kind::value);
  CHECK(frontend.value == doctest::Approx(20.0));
  // Instructions: the larger stalled count per instruction, on a line of its own.
  const auto per_insn = derive_second_metric(column("instructions"), 600, stats);
  REQUIRE(per_insn.has_value());
  CHECK(per_insn->value == doctest::Approx(0.5));
  CHECK(per_insn->unit == "stalled cycles per insn");
  CHECK_FALSE(derive_second_metric(column("instructions"), 600, none).has_value());
  CHECK_FALSE(derive_second_metric(column("instructions"), 0, stats).has_value());
  CHECK_FALSE(derive_second_metric(column("cpu-cycles"), 600, stats).has_value());
}
