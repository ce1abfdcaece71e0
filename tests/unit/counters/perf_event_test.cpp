#include "host-agent/counters/perf_event.hpp"

#include <doctest/doctest.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/common/host_pmu.hpp"

namespace {

using namespace perfkvm::host;
using perfkvm::protocol::Availability;
using perfkvm::protocol::ColumnStatus;
using perfkvm::protocol::EventInfo;
using perfkvm::protocol::Scope;

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

const EventInfo& event(std::string_view name) {
  const EventInfo* found = perfkvm::protocol::find_event(name);
  REQUIRE_MESSAGE(found != nullptr, "no event " << name << " in the catalogue");
  return *found;
}

// What the kernel itself says about counting `e`, without going through the code under test:
// 0 if it opens, else the errno. Hardware events: the shared host PMU probe (perf's names are
// the catalogue's name or alias); software events: opened on the calling thread.
int direct_open_errno(const EventInfo& e) {
  if (e.kind == perfkvm::protocol::EventKind::hardware) {
    for (const auto& probe : perfkvm::test::host_pmu().events) {
      if (probe.name == e.name || probe.name == e.alias) return probe.opens ? 0 : probe.error;
    }
    FAIL("the host PMU probe has no event " << e.name);
  }
  perf_event_attr attr{};
  attr.size = sizeof(attr);
  attr.type = e.perf_type;
  attr.config = e.perf_config;
  attr.disabled = 1;
  const long fd = syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
  if (fd < 0) return errno;
  close(static_cast<int>(fd));
  return 0;
}

}  // namespace

TEST_CASE("scale_count: raw * enabled / running without overflow") {
  struct Case {
    std::uint64_t raw, enabled, running, expected;
  };
  const std::vector<Case> cases{
      {1000, 2000, 1000, 2000},  // counted half the time
      {12345, 777, 777, 12345},  // never multiplexed
      {5, 10, 0, 0},             // never ran
      {0, 0, 0, 0},              // never enabled
      {300, 1000, 3, 100000},
      {1'000'000'000'000'000'000, 1'000'000'000'000'000'000, 500'000'000'000'000'000,
       2'000'000'000'000'000'000},  // the product needs more than 64 bits
      {kMax, kMax, kMax, kMax},
      {kMax, kMax - 1, kMax, kMax - 1},  // (2^64-1)(2^64-2)/(2^64-1)
      {std::uint64_t{1} << 63, 3, 4, 6'917'529'027'641'081'856},
      {kMax, std::uint64_t{1} << 62, std::uint64_t{1} << 63, kMax / 2},  // rounds down
      {kMax, std::uint64_t{1} << 63, std::uint64_t{1} << 62, kMax},      // saturates
      {kMax / 2 + 1, 2, 1, kMax},                                        // 2^64: saturates
  };
  for (const auto& c : cases) {
    CAPTURE(c.raw);
    CAPTURE(c.enabled);
    CAPTURE(c.running);
    CHECK(scale_count(c.raw, c.enabled, c.running) == c.expected);
  }
}

TEST_CASE("make_attr: a counting event, disabled when it leads, exclusions per scope") {
  const auto all = make_attr(event("cycles"), Scope::all, true);
  CHECK(all.size == sizeof(perf_event_attr));
  CHECK(all.type == PERF_TYPE_HARDWARE);
  CHECK(all.config == PERF_COUNT_HW_CPU_CYCLES);
  CHECK(all.read_format == (PERF_FORMAT_GROUP | PERF_FORMAT_ID | PERF_FORMAT_TOTAL_TIME_ENABLED |
                            PERF_FORMAT_TOTAL_TIME_RUNNING));
  CHECK(all.disabled == 1);
  CHECK(all.sample_period == 0);
  CHECK(all.inherit == 0);
  CHECK(all.exclude_host == 0);
  CHECK(all.exclude_guest == 0);

  const auto guest = make_attr(event("instructions"), Scope::guest, false);
  CHECK(guest.disabled == 0);
  CHECK(guest.exclude_host == 1);
  CHECK(guest.exclude_guest == 0);

  const auto host = make_attr(event("instructions"), Scope::host, true);
  CHECK(host.exclude_host == 0);
  CHECK(host.exclude_guest == 1);

  const auto software = make_attr(event("task-clock"), Scope::all, true);
  CHECK(software.type == PERF_TYPE_SOFTWARE);
  CHECK(software.config == PERF_COUNT_SW_TASK_CLOCK);
  CHECK_THROWS_AS(make_attr(event("task-clock"), Scope::guest, true), std::invalid_argument);
}

TEST_CASE("describe_open_error: errno -> column status and reason, as perf stat decides") {
  struct Case {
    int error;
    const char* event;
    Scope scope;
    ColumnStatus status;
    const char* reason;
  };
  const std::vector<Case> cases{
      {ENOENT, "cycles", Scope::all, ColumnStatus::not_supported,
       "no hardware PMU event for this on the host (ENOENT)"},
      {ENODEV, "instructions", Scope::guest, ColumnStatus::not_supported,
       "no hardware PMU event for this on the host (ENODEV)"},
      {EOPNOTSUPP, "cycles", Scope::guest, ColumnStatus::not_supported,
       "a mediated vPMU owns guest-time counting on this host (a VM uses it); only mode 'host' "
       "can count this event (EOPNOTSUPP)"},
      {EOPNOTSUPP, "cycles", Scope::all, ColumnStatus::not_supported,
       "a mediated vPMU owns guest-time counting on this host (a VM uses it); only mode 'host' "
       "can count this event (EOPNOTSUPP)"},
      {EOPNOTSUPP, "cycles", Scope::host, ColumnStatus::not_supported,
       "the host PMU cannot count this event with exclude_guest (EOPNOTSUPP)"},
      {EINVAL, "bus-cycles", Scope::all, ColumnStatus::not_supported,
       "the host PMU does not support this event (EINVAL)"},
      {EINVAL, "instructions", Scope::guest, ColumnStatus::not_supported,
       "the host PMU cannot count this event for the guest side alone (EINVAL)"},
      {EINVAL, "instructions", Scope::host, ColumnStatus::not_supported,
       "the host PMU cannot count this event for the host side alone (EINVAL)"},
      {ENOENT, "alignment-faults", Scope::all, ColumnStatus::not_supported,
       "the host kernel cannot count this software event (ENOENT)"},
      {EACCES, "task-clock", Scope::all, ColumnStatus::not_counted,
       "permission denied: perfkvm-hostd needs CAP_PERFMON or root (EACCES)"},
      {EPERM, "cycles", Scope::all, ColumnStatus::not_counted,
       "permission denied: perfkvm-hostd needs CAP_PERFMON or root (EPERM)"},
      {ESRCH, "task-clock", Scope::all, ColumnStatus::not_counted,
       "vCPU thread 4242 no longer exists (ESRCH)"},
      {EMFILE, "task-clock", Scope::all, ColumnStatus::not_counted,
       "perfkvm-hostd is out of file descriptors (EMFILE)"},
      {EBUSY, "cycles", Scope::all, ColumnStatus::not_counted,
       "the PMU is in exclusive use by another program (EBUSY)"},
      {E2BIG, "task-clock", Scope::all, ColumnStatus::not_counted,
       "perf_event_open on vCPU thread 4242 failed: Argument list too long (E2BIG)"},
  };
  for (const auto& c : cases) {
    CAPTURE(errno_name(c.error));
    CAPTURE(c.event);
    const auto failure = describe_open_error(c.error, event(c.event), c.scope, 4242);
    CHECK(failure.status == c.status);
    CHECK(failure.reason == c.reason);
  }
  CHECK(errno_name(ENOENT) == "ENOENT");
  CHECK(errno_name(99999) == "errno 99999");
}

TEST_CASE("parse_group_read: {nr, enabled, running, {value, id}[nr]}") {
  SUBCASE("two counters") {
    const std::vector<std::uint64_t> words{2, 1000, 500, 42, 7, 43, 8};
    GroupReading reading;
    REQUIRE(parse_group_read(words, reading));
    CHECK(reading.time_enabled == 1000);
    CHECK(reading.time_running == 500);
    REQUIRE(reading.values.size() == 2);
    CHECK(reading.values[0].id == 7);
    CHECK(reading.values[0].raw == 42);
    CHECK(reading.values[1].id == 8);
    CHECK(reading.values[1].raw == 43);
  }
  SUBCASE("a reading reused for a smaller group keeps only that group's values") {
    GroupReading reading;
    REQUIRE(parse_group_read(std::vector<std::uint64_t>{2, 1000, 500, 42, 7, 43, 8}, reading));
    REQUIRE(parse_group_read(std::vector<std::uint64_t>{1, 2000, 2000, 9, 5}, reading));
    CHECK(reading.time_enabled == 2000);
    REQUIRE(reading.values.size() == 1);
    CHECK(reading.values[0].id == 5);
    CHECK(reading.values[0].raw == 9);
  }
  SUBCASE("nr larger than the data") {
    const std::vector<std::uint64_t> words{3, 1000, 500, 42, 7, 43, 8};
    GroupReading reading;
    CHECK_FALSE(parse_group_read(words, reading));
  }
  SUBCASE("nr near 2^64 does not overflow the size check") {
    const std::vector<std::uint64_t> words{kMax / 2 + 1, 1000, 500, 42, 7};
    GroupReading reading;
    CHECK_FALSE(parse_group_read(words, reading));
  }
  SUBCASE("trailing words") {
    const std::vector<std::uint64_t> words{1, 1000, 500, 42, 7, 0};
    GroupReading reading;
    CHECK_FALSE(parse_group_read(words, reading));
  }
  SUBCASE("shorter than the header") {
    const std::vector<std::uint64_t> words{1, 1000};
    GroupReading reading;
    CHECK_FALSE(parse_group_read(words, reading));
  }
}

TEST_CASE("probe_event agrees with perf_event_open on this host") {
  SUBCASE("task-clock is a software event: always countable") {
    const auto status = probe_event(event("task-clock"));
    CHECK(status.name == "task-clock");
    CHECK(status.status == Availability::supported);
    CHECK(status.reason.empty());
  }
  SUBCASE("cpu-cycles depends on the host's PMU") {
    const auto status = probe_event(event("cycles"));
    const int direct = direct_open_errno(event("cycles"));
    CHECK(status.name == "cpu-cycles");
    CHECK(status.kind == perfkvm::protocol::EventKind::hardware);
    if (direct == 0) {
      MESSAGE(perfkvm::test::host_pmu().describe() << ": probe_event must say supported");
      CHECK(status.status == Availability::supported);
      CHECK(status.reason.empty());
    } else {
      MESSAGE(perfkvm::test::host_pmu().describe()
              << ": probe_event must say not-supported with the errno");
      CHECK(status.status == Availability::not_supported);
      CHECK(status.reason.find("(" + errno_name(direct) + ")") != std::string::npos);
    }
  }
  SUBCASE("every catalogue event") {
    for (const auto& e : perfkvm::protocol::event_catalogue()) {
      const auto status = probe_event(e);
      const int direct = direct_open_errno(e);
      CAPTURE(e.name);
      CAPTURE(direct);
      CHECK(status.status == (direct == 0 ? Availability::supported : Availability::not_supported));
      CHECK(status.reason.empty() == (direct == 0));
    }
  }
}
