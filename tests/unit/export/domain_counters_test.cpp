// DomainCounters on real threads of the test process: what the export counts per vCPU as
// threads come and go, and its share of the host-wide counter budget.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/vcpu_thread.hpp"
#include "tests/common/host_pmu.hpp"
#include "host-agent/counters/column_plan.hpp"
#include "host-agent/export/domain_counters.hpp"

namespace perfkvm::host {
namespace {

using namespace std::chrono_literals;

std::vector<CounterColumn> software_plan() {
  const std::vector<std::string> events = {"task-clock", "context-switches"};
  return plan_named_columns(events, protocol::StartMode::all);
}

double task_clock_ns(const DomainCounters& counters, std::uint32_t vcpu) {
  const auto& vcpus = counters.totals().vcpus;
  const auto it = vcpus.find(vcpu);
  REQUIRE(it != vcpus.end());
  REQUIRE(it->second.columns.at(0).has_value());
  return it->second.columns[0]->total();
}

TEST_CASE("export: each vCPU thread is counted from when it is followed; its task-clock grows by the CPU it used") {
  test::VcpuThread vcpu0("CPU 0/KVM"), vcpu1("CPU 1/KVM");
  auto budget = std::make_shared<CounterBudget>(100);
  DomainCounters counters({"web", "uuid-1", "", std::nullopt}, software_plan(), budget);
  CHECK(counters.follow_threads({{0, vcpu0.tid()}, {1, vcpu1.tid()}}).empty());
  CHECK(counters.counted_vcpus() == 2);
  CHECK(budget->in_use() == 4);  // 2 columns x 2 threads

  vcpu1.run([] { test::spin_cpu(60ms); });
  counters.read();
  const double first = task_clock_ns(counters, 1);
  CHECK(first >= 50e6);
  CHECK(task_clock_ns(counters, 0) < 20e6);

  vcpu1.run([] { test::spin_cpu(40ms); });
  counters.read();
  const double second = task_clock_ns(counters, 1);
  CHECK(second - first >= 30e6);
  CHECK(second - first < 200e6);
}

TEST_CASE("export: a vCPU unplugged ends its series and gives its counters back; a new tid starts a new series") {
  test::VcpuThread vcpu0("CPU 0/KVM"), vcpu1("CPU 1/KVM"), replacement("CPU 1/KVM");
  auto budget = std::make_shared<CounterBudget>(100);
  DomainCounters counters({"web", "uuid-1", "", std::nullopt}, software_plan(), budget);
  counters.follow_threads({{0, vcpu0.tid()}, {1, vcpu1.tid()}});
  vcpu1.run([] { test::spin_cpu(40ms); });
  counters.read();
  CHECK(task_clock_ns(counters, 1) >= 30e6);

  counters.follow_threads({{0, vcpu0.tid()}});
  CHECK(counters.totals().vcpus.count(1) == 0);
  CHECK(budget->in_use() == 2);

  // vCPU 1 back on another thread: counted from zero (Prometheus sees a counter reset).
  counters.follow_threads({{0, vcpu0.tid()}, {1, replacement.tid()}});
  counters.read();
  CHECK(task_clock_ns(counters, 1) < 20e6);
  CHECK(budget->in_use() == 4);
}

TEST_CASE("export: a vCPU thread that exits keeps its final counts, without /proc being asked, until it is unfollowed") {
  test::VcpuThread vcpu0("CPU 0/KVM");
  auto vcpu1 = std::make_unique<test::VcpuThread>("CPU 1/KVM");
  const pid_t gone = vcpu1->tid();
  auto budget = std::make_shared<CounterBudget>(100);
  DomainCounters counters({"web", "uuid-1", "", std::nullopt}, software_plan(), budget);
  counters.follow_threads({{0, vcpu0.tid()}, {1, gone}});
  vcpu1->run([] { test::spin_cpu(40ms); });
  counters.read();
  const double while_alive = task_clock_ns(counters, 1);
  vcpu1.reset();
  counters.read();
  const double final_count = task_clock_ns(counters, 1);
  CHECK(final_count >= while_alive);
  std::this_thread::sleep_for(1100ms);  // past the periodic presence check a sampler would do
  counters.read();
  CHECK(task_clock_ns(counters, 1) == final_count);
  CHECK(counters.counted_vcpus() == 2);
  counters.follow_threads({{0, vcpu0.tid()}});  // what the next resolution finds
  CHECK(counters.totals().vcpus.count(1) == 0);
  CHECK(budget->in_use() == 2);
}

TEST_CASE("export: a vCPU the host-wide budget has no room for is left out, and counted once there is room") {
  test::VcpuThread vcpu0("CPU 0/KVM"), vcpu1("CPU 1/KVM");
  auto budget = std::make_shared<CounterBudget>(3);  // room for one vCPU's 2 columns
  DomainCounters counters({"web", "uuid-1", "", std::nullopt}, software_plan(), budget);
  const auto left_out = counters.follow_threads({{0, vcpu0.tid()}, {1, vcpu1.tid()}});
  CHECK(left_out == std::vector<std::uint32_t>{1});
  CHECK(counters.counted_vcpus() == 1);
  budget->set_limit(4);
  CHECK(counters.follow_threads({{0, vcpu0.tid()}, {1, vcpu1.tid()}}).empty());
  CHECK(counters.counted_vcpus() == 2);
}

TEST_CASE("export: an event the host cannot count has no totals (no series), the others do") {
  test::VcpuThread vcpu0("CPU 0/KVM");
  const std::vector<std::string> events = {"task-clock", "cycles"};
  auto budget = std::make_shared<CounterBudget>(100);
  DomainCounters counters({"web", "uuid-1", "", std::nullopt},
                          plan_named_columns(events, protocol::StartMode::all), budget);
  counters.follow_threads({{0, vcpu0.tid()}});
  counters.read();
  const auto& columns = counters.totals().vcpus.at(0).columns;
  REQUIRE(columns.size() == 2);
  CHECK(columns[0].has_value());
  // Whether cycles opens is the host's: the shared probe decides.
  const auto& pmu = test::host_pmu();
  const bool cycles_open = pmu.event("cycles").opens;
  MESSAGE(pmu.describe() << std::string(cycles_open ? ": cycles has totals" : ": cycles has no totals"));
  CHECK(columns[1].has_value() == cycles_open);
}

}  // namespace
}  // namespace perfkvm::host
