// RegionOfInterest: one rule a case, on task_clock_readings.hpp's readings.
#include <doctest/doctest.h>

#include "guest-agent/region_of_interest.hpp"
#include "task_clock_readings.hpp"

using namespace perfkvm;
using namespace perfkvm::guest;
using perfkvm::test::at;
using perfkvm::test::kSecond;
using perfkvm::test::report_at;

namespace {

std::uint64_t value(const protocol::Report& report) { return report.totals.at(0)->value; }

}  // namespace

TEST_CASE("without any control the region is the whole run, and says so") {
  RegionOfInterest region(true);
  CHECK_FALSE(region.shapes_the_run());
  const auto result = region.finish(report_at(2));
  CHECK(value(result.total) == kSecond);
  CHECK(result.total.duration_ns == 2 * kSecond);
  CHECK(result.phases.empty());
}

TEST_CASE("-D: starting disabled shapes the run even before any request; nothing is counted "
          "until enabled") {
  RegionOfInterest region(false);
  CHECK(region.shapes_the_run());
  CHECK_FALSE(region.counting());
  const auto never = region.finish(report_at(2));
  CHECK(value(never.total) == 0);
  CHECK(never.total.duration_ns == 0);
  CHECK(never.total.totals.at(0)->time_running == 0);  // printed <not counted>
  region.apply(ControlAction::enable, at(0.5));
  CHECK(region.counting());
  const auto result = region.finish(report_at(2));
  CHECK(value(result.total) == 750'000'000);
  CHECK(result.total.duration_ns == 1'500'000'000);
  CHECK(result.run_ns == 2 * kSecond);
}

TEST_CASE("disable and enable cut a hole: the total adds up the counted spans") {
  RegionOfInterest region(true);
  region.apply(ControlAction::disable, at(1));
  region.apply(ControlAction::enable, at(3));
  const auto result = region.finish(report_at(4));
  CHECK(value(result.total) == kSecond);  // 0-1 s and 3-4 s, half a CPU each
  CHECK(result.total.duration_ns == 2 * kSecond);
  CHECK(result.total.totals.at(0)->time_enabled == 2 * kSecond);
  REQUIRE(result.total.vcpus.size() == 1);
  CHECK(result.total.vcpus[0].counts.at(0)->value == kSecond);
  CHECK(result.total.samples_dropped == 2);  // the run's notes stay with the total
}

TEST_CASE("enable while enabled and disable while disabled change nothing") {
  RegionOfInterest region(true);
  region.apply(ControlAction::enable, at(1));
  region.apply(ControlAction::disable, at(2));
  region.apply(ControlAction::disable, at(3));
  CHECK(value(region.finish(report_at(4)).total) == kSecond);  // 0-2 s
}

TEST_CASE("marks: a phase each, in mark order, counts before the first mark as (unmarked), "
          "the same name twice one phase") {
  RegionOfInterest region(true);
  region.apply(ControlAction::mark, at(1), "load");
  region.apply(ControlAction::mark, at(2), "query");
  region.apply(ControlAction::mark, at(3), "load");
  CHECK(region.phase() == "load");
  const auto result = region.finish(report_at(5));
  REQUIRE(result.phases.size() == 3);
  CHECK(result.phases[0].name == kUnmarkedPhase);
  CHECK(value(result.phases[0].report) == 500'000'000);
  CHECK(result.phases[1].name == "load");
  CHECK(value(result.phases[1].report) == 1'500'000'000);  // 1-2 s and 3-5 s
  CHECK(result.phases[1].report.duration_ns == 3 * kSecond);
  CHECK(result.phases[2].name == "query");
  CHECK(value(result.phases[2].report) == 500'000'000);
  CHECK(value(result.total) == 2'500'000'000);  // the phases add up to the total
  CHECK(result.phases[1].report.samples_dropped == 0);  // notes once, with the total
}

TEST_CASE("a mark at the very start leaves no (unmarked) phase; a disabled phase is listed "
          "with nothing counted") {
  RegionOfInterest region(true);
  region.apply(ControlAction::mark, at(0), "all");
  region.apply(ControlAction::disable, at(1));
  region.apply(ControlAction::mark, at(2), "idle");
  const auto result = region.finish(report_at(3));
  REQUIRE(result.phases.size() == 2);
  CHECK(result.phases[0].name == "all");
  CHECK(result.phases[1].name == "idle");
  CHECK(value(result.phases[1].report) == 0);
  CHECK(result.phases[1].report.totals.at(0)->time_running == 0);
}

TEST_CASE("a column the host does not count stays without a reading in every block") {
  RegionOfInterest region(true);
  auto snapshot = at(1);
  snapshot.totals.emplace_back();  // a second, <not supported>, column
  region.apply(ControlAction::mark, snapshot, "b");
  auto report = report_at(2);
  report.columns.push_back({"cycles", protocol::Scope::all, protocol::ColumnStatus::not_supported, "x"});
  report.totals.emplace_back();
  const auto result = region.finish(report);
  REQUIRE(result.total.totals.size() == 2);
  CHECK_FALSE(result.total.totals[1].has_value());
  CHECK_FALSE(result.phases.at(0).report.totals.at(1).has_value());
}
