// FleetExport over real threads of the test process: domains followed as the registry
// reports them, counters read when a scrape comes and at most once per minimum interval, and
// series that end with their domain.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/vcpu_thread.hpp"
#include "host-agent/export/fleet_export.hpp"

namespace perfkvm::host {
namespace {

using namespace std::chrono_literals;

DomainXmlInfo domain_info(const std::string& name, const std::string& uuid) {
  DomainXmlInfo info;
  info.name = name;
  info.uuid = uuid;
  info.vcpus = 2;
  info.max_vcpus = 2;
  return info;
}

FleetExport::ResolveThreads threads_of(std::vector<VcpuThread> threads) {
  return [threads] {
    VcpuResolution resolution;
    resolution.threads = threads;
    resolution.source = "comm";
    return resolution;
  };
}

// What a domain's QEMU has now: `threads` as the test changes it (vCPU hotplug, a thread gone).
FleetExport::ResolveThreads threads_now(const std::vector<VcpuThread>& threads) {
  return [&threads] {
    VcpuResolution resolution;
    resolution.threads = threads;
    resolution.source = "comm";
    return resolution;
  };
}

std::unique_ptr<FleetExport> make_fleet(std::shared_ptr<CounterBudget> budget,
                                        std::chrono::milliseconds min_read = 1000ms) {
  const std::vector<std::string> events = {"task-clock", "context-switches"};
  return std::make_unique<FleetExport>(plan_named_columns(events, protocol::StartMode::all),
                                       min_read, std::move(budget),
                                       [] { return HostdHealth{"test", {}, 0, 0, true, 1, 0, 0}; });
}

// The value of the text-format sample line that starts with `series` ("name{labels}").
std::optional<double> sample_value(const std::string& exposition, const std::string& series) {
  std::istringstream lines(exposition);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return std::nullopt;
}

const std::string kVcpu1Clock =
    "perfkvm_vcpu_task_clock_seconds_total{domain=\"web\",uuid=\"u-web\",vcpu=\"1\"}";

TEST_CASE("export: a domain found running is counted; a scrape shows its busy vCPU's task-clock in seconds") {
  test::VcpuThread vcpu0("CPU 0/KVM"), vcpu1("CPU 1/KVM");
  auto fleet = make_fleet(std::make_shared<CounterBudget>(100));
  fleet->domain_running(domain_info("web", "u-web"), threads_of({{0, vcpu0.tid()}, {1, vcpu1.tid()}}));
  vcpu1.run([] { test::spin_cpu(80ms); });
  const std::string scrape = fleet->scrape(metrics::Format::text);
  const auto busy = sample_value(scrape, kVcpu1Clock);
  REQUIRE_MESSAGE(busy, scrape);
  CHECK(*busy >= 0.07);
  CHECK(*busy < 1.0);
  const auto idle = sample_value(
      scrape, "perfkvm_vcpu_task_clock_seconds_total{domain=\"web\",uuid=\"u-web\",vcpu=\"0\"}");
  REQUIRE(idle);
  CHECK(*idle < *busy / 2);
  CHECK(sample_value(scrape, "perfkvm_domain_info{domain=\"web\",uuid=\"u-web\",channel=\"\",vsock_cid=\"\"}") == 1.0);
  CHECK(sample_value(scrape, "perfkvm_hostd_domains_running") == 1.0);
}

TEST_CASE("export: scrapes within the minimum read interval are served from the last read") {
  test::VcpuThread vcpu0("CPU 0/KVM"), vcpu1("CPU 1/KVM");
  auto fleet = make_fleet(std::make_shared<CounterBudget>(100));
  fleet->domain_running(domain_info("web", "u-web"), threads_of({{0, vcpu0.tid()}, {1, vcpu1.tid()}}));
  const auto t0 = FleetExport::Clock::now();
  const auto first = sample_value(fleet->scrape(metrics::Format::text, t0), kVcpu1Clock);
  vcpu1.run([] { test::spin_cpu(50ms); });
  const auto burst = sample_value(fleet->scrape(metrics::Format::text, t0 + 500ms), kVcpu1Clock);
  CHECK(fleet->reads() == 1);
  CHECK(burst == first);
  const auto later = sample_value(fleet->scrape(metrics::Format::text, t0 + 1000ms), kVcpu1Clock);
  CHECK(fleet->reads() == 2);
  REQUIRE(later);
  CHECK(*later - *first >= 0.04);
}

TEST_CASE("export: a stopped domain's series are gone from the next scrape, its counters given back") {
  test::VcpuThread vcpu0("CPU 0/KVM"), other0("CPU 0/KVM");
  auto budget = std::make_shared<CounterBudget>(100);
  auto fleet = make_fleet(budget, 0ms);
  fleet->domain_running(domain_info("web", "u-web"), threads_of({{0, vcpu0.tid()}}));
  fleet->domain_running(domain_info("db", "u-db"), threads_of({{0, other0.tid()}}));
  CHECK(budget->in_use() == 4);
  CHECK(fleet->scrape(metrics::Format::text).find("domain=\"web\"") != std::string::npos);
  fleet->domain_stopped("u-web");
  const std::string scrape = fleet->scrape(metrics::Format::text);
  CHECK(scrape.find("domain=\"web\"") == std::string::npos);
  CHECK(scrape.find("domain=\"db\"") != std::string::npos);
  CHECK(budget->in_use() == 2);
}

TEST_CASE("export: a domain restarted (new QEMU, new threads) starts its series from zero") {
  test::VcpuThread old1("CPU 1/KVM"), new1("CPU 1/KVM");
  auto fleet = make_fleet(std::make_shared<CounterBudget>(100), 0ms);
  fleet->domain_running(domain_info("web", "u-web"), threads_of({{1, old1.tid()}}));
  old1.run([] { test::spin_cpu(80ms); });
  const auto before = sample_value(fleet->scrape(metrics::Format::text), kVcpu1Clock);
  REQUIRE(before);
  CHECK(*before >= 0.07);
  fleet->domain_stopped("u-web");
  fleet->domain_running(domain_info("web", "u-web"), threads_of({{1, new1.tid()}}));
  const auto after = sample_value(fleet->scrape(metrics::Format::text), kVcpu1Clock);
  REQUIRE(after);
  CHECK(*after < 0.05);
}

TEST_CASE("export: a domain whose threads cannot be found has info but no vCPU series, and is looked for again") {
  int resolutions = 0;
  auto fleet = make_fleet(std::make_shared<CounterBudget>(100), 0ms);
  fleet->domain_running(domain_info("web", "u-web"), [&resolutions] {
    ++resolutions;
    VcpuResolution none;
    none.problem = "no QEMU process found for domain 'web'";
    return none;
  });
  CHECK(resolutions == 1);
  const auto t0 = FleetExport::Clock::now();
  const std::string scrape = fleet->scrape(metrics::Format::text, t0);
  CHECK(scrape.find("perfkvm_domain_info{domain=\"web\"") != std::string::npos);
  CHECK(scrape.find("perfkvm_vcpu_task_clock_seconds_total{domain=\"web\"") == std::string::npos);
  CHECK(resolutions == 1);  // not at every scrape
  fleet->scrape(metrics::Format::text, t0 + FleetExport::kUncountedRecheckPeriod + 1s);
  CHECK(resolutions == 2);
}

TEST_CASE("export: a vCPU thread that exits has its series ended at the periodic recheck") {
  test::VcpuThread vcpu0("CPU 0/KVM");
  auto vcpu1 = std::make_unique<test::VcpuThread>("CPU 1/KVM");
  std::vector<VcpuThread> threads = {{0, vcpu0.tid()}, {1, vcpu1->tid()}};
  auto fleet = make_fleet(std::make_shared<CounterBudget>(100), 0ms);
  fleet->domain_running(domain_info("web", "u-web"), threads_now(threads));
  const auto t0 = FleetExport::Clock::now();
  CHECK(sample_value(fleet->scrape(metrics::Format::text, t0), kVcpu1Clock));
  vcpu1.reset();
  threads.pop_back();  // the thread is gone from the domain's QEMU
  CHECK(sample_value(fleet->scrape(metrics::Format::text, t0 + 1s), kVcpu1Clock));  // not yet due
  CHECK_FALSE(sample_value(fleet->scrape(metrics::Format::text, t0 + FleetExport::kThreadRecheckPeriod + 1s),
                           kVcpu1Clock));
}

TEST_CASE("export: vCPU hotplug is followed at the periodic recheck") {
  test::VcpuThread vcpu0("CPU 0/KVM"), vcpu1("CPU 1/KVM");
  std::vector<VcpuThread> threads = {{0, vcpu0.tid()}};
  auto fleet = make_fleet(std::make_shared<CounterBudget>(100), 0ms);
  fleet->domain_running(domain_info("web", "u-web"), threads_now(threads));
  const auto t0 = FleetExport::Clock::now();
  CHECK_FALSE(sample_value(fleet->scrape(metrics::Format::text, t0), kVcpu1Clock));
  threads.push_back({1, vcpu1.tid()});
  fleet->scrape(metrics::Format::text, t0 + FleetExport::kThreadRecheckPeriod + 1s);
  CHECK(sample_value(fleet->scrape(metrics::Format::text, t0 + FleetExport::kThreadRecheckPeriod + 2s),
                     kVcpu1Clock));
}

}  // namespace
}  // namespace perfkvm::host
