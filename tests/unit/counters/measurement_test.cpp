// Measurement on real threads of this process: the columns as the plan names them, plain
// readings (no protocol addressing), and finish() closing the counters.
#include "host-agent/counters/measurement.hpp"

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "tests/support/vcpu_thread.hpp"

namespace {

using namespace std::chrono_literals;
using perfkvm::host::Measurement;
using perfkvm::host::plan_named_columns;
using perfkvm::protocol::Scope;
using perfkvm::protocol::StartMode;
using perfkvm::protocol::VcpuStatus;

}  // namespace

TEST_CASE("plan_named_columns: the events as spelt, each expanded as plan_columns does") {
  const std::vector<std::string> names{"cycles", "cs", "task-clock"};
  const auto plan = plan_named_columns(names, StartMode::both);
  REQUIRE(plan.size() == 4);
  CHECK(plan[0].name() == "cycles");
  CHECK(plan[0].scope == Scope::guest);
  CHECK(plan[1].name() == "cycles");
  CHECK(plan[1].scope == Scope::host);
  CHECK(plan[2].name() == "cs");
  CHECK(plan[2].event == perfkvm::protocol::find_event("context-switches"));
  CHECK(plan[3].name() == "task-clock");
  const std::vector<std::string> unknown{"task-clock", "cyles"};
  CHECK_THROWS_WITH_AS(plan_named_columns(unknown, StartMode::all), "unknown event 'cyles'",
                       std::invalid_argument);
}

TEST_CASE("a measurement: columns named as planned, one row per thread, final counts on finish") {
  perfkvm::test::VcpuThread vcpu0("CPU 0/KVM");
  perfkvm::test::VcpuThread vcpu2("CPU 2/KVM");
  const std::vector<std::string> names{"cs", "task-clock"};
  Measurement measurement({{0, vcpu0.tid()}, {2, vcpu2.tid()}},
                          plan_named_columns(names, StartMode::all));
  REQUIRE(measurement.columns().size() == 2);
  CHECK(measurement.columns()[0].event == "cs");  // as spelt, not "context-switches"
  CHECK(measurement.columns()[1].event == "task-clock");
  CHECK(measurement.vcpus() == std::vector<std::uint32_t>{0, 2});

  measurement.start();
  vcpu2.run([] { perfkvm::test::spin_cpu(5ms); });
  const auto reading = measurement.read();
  CHECK(reading.totals.size() == 2);
  REQUIRE(reading.vcpus.size() == 2);
  CHECK(reading.vcpus[0].vcpu == 0);
  CHECK(reading.vcpus[1].vcpu == 2);
  CHECK_FALSE(reading.threads_ended());

  const auto final_reading = measurement.finish();
  CHECK(final_reading.elapsed_ns >= reading.elapsed_ns);
  REQUIRE(final_reading.vcpus.size() == 2);
  for (const auto& row : final_reading.vcpus) CHECK(row.status == VcpuStatus::running);
  CHECK(measurement.finished());
  CHECK(measurement.open_fd_count() == 0);
  CHECK_FALSE(measurement.check_threads());
  CHECK_THROWS_AS(measurement.read(), std::logic_error);
  CHECK_THROWS_AS(measurement.finish(), std::logic_error);
}
