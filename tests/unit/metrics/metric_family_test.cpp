#include "host-agent/metrics/metric_family.hpp"

#include <doctest/doctest.h>

#include <set>
#include <string>
#include <string_view>

namespace {

using perfkvm::host::metrics::family_for_event;
using perfkvm::host::metrics::is_valid_label_name;
using perfkvm::host::metrics::is_valid_metric_name;
using perfkvm::protocol::EventInfo;
using perfkvm::protocol::EventKind;

const EventInfo& event(std::string_view name) {
  const EventInfo* found = perfkvm::protocol::find_event(name);
  REQUIRE_MESSAGE(found != nullptr, "no event " << name << " in the catalogue");
  return *found;
}

}  // namespace

TEST_CASE("family_for_event: every catalogue event has a valid family name of its own") {
  std::set<std::string> names;
  for (const EventInfo& e : perfkvm::protocol::event_catalogue()) {
    CAPTURE(e.name);
    const auto family = family_for_event(e);
    CHECK(is_valid_metric_name(family.name));
    CHECK(is_valid_metric_name(family.name + "_total"));
    CHECK(family.name.starts_with("perfkvm_vcpu_"));
    CHECK_FALSE(family.name.ends_with("_total"));
    CHECK(family.name.find(':') == std::string::npos);  // colons are for recording rules
    CHECK_FALSE(family.help.empty());
    CHECK(names.insert(family.name).second);
  }
  CHECK(names.size() == perfkvm::protocol::event_catalogue().size());
}

TEST_CASE("family_for_event: the names dashboards query") {
  struct Case {
    std::string_view event;
    std::string_view name;
  };
  for (const Case& c : {Case{"cpu-cycles", "perfkvm_vcpu_cycles"},
                        Case{"instructions", "perfkvm_vcpu_instructions"},
                        Case{"cache-references", "perfkvm_vcpu_cache_references"},
                        Case{"branch-misses", "perfkvm_vcpu_branch_misses"},
                        Case{"context-switches", "perfkvm_vcpu_context_switches"},
                        Case{"cpu-migrations", "perfkvm_vcpu_cpu_migrations"},
                        Case{"page-faults", "perfkvm_vcpu_page_faults"},
                        Case{"major-faults", "perfkvm_vcpu_major_faults"}}) {
    CAPTURE(c.event);
    const auto family = family_for_event(event(c.event));
    CHECK(family.name == c.name);
    CHECK(family.unit.empty());
    CHECK(family.divisor == 1.0);
  }
  // An alias names the same event, so the same family.
  CHECK(family_for_event(event("cycles")).name == "perfkvm_vcpu_cycles");
}

TEST_CASE("family_for_event: the nanosecond clocks are exported in seconds") {
  for (const auto& [event_name, family_name] :
       {std::pair{"task-clock", "perfkvm_vcpu_task_clock_seconds"},
        std::pair{"cpu-clock", "perfkvm_vcpu_cpu_clock_seconds"}}) {
    CAPTURE(event_name);
    const auto family = family_for_event(event(event_name));
    CHECK(family.name == family_name);
    CHECK(family.unit == "seconds");
    CHECK(family.divisor == 1e9);
  }
}

TEST_CASE("family_for_event: the help says what is counted, by whom, and in which unit") {
  CHECK(family_for_event(event("instructions")).help ==
        "instructions retired: perf event instructions, counted by the host on the vCPU thread");
  // The catalogue's ", ns" would be wrong for a family in seconds.
  CHECK(family_for_event(event("task-clock")).help ==
        "time the vCPU threads ran on a host CPU: perf event task-clock, counted by the host on "
        "the vCPU thread, in seconds");
}

TEST_CASE("family_for_event: any character a name cannot hold becomes '_', in lower case") {
  const EventInfo odd{"L1-dcache.load:Misses/x", "", EventKind::hardware, 0, 0, ""};
  const auto family = family_for_event(odd);
  CHECK(family.name == "perfkvm_vcpu_l1_dcache_load_misses_x");
  CHECK(family.help ==
        "perf event L1-dcache.load:Misses/x, counted by the host on the vCPU thread");
}

TEST_CASE("is_valid_metric_name and is_valid_label_name follow the formats' grammar") {
  for (std::string_view name : {"a", "_", ":", "a:b_c9", "perfkvm_vcpu_cpu_cycles_total", "A_Z"}) {
    CAPTURE(name);
    CHECK(is_valid_metric_name(name));
  }
  for (std::string_view name : {"", "9a", "a-b", "a b", "a.b", "wëb", "a{b}"}) {
    CAPTURE(name);
    CHECK_FALSE(is_valid_metric_name(name));
  }
  for (std::string_view name : {"a", "_a", "domain", "vcpu_0", "Scope"}) {
    CAPTURE(name);
    CHECK(is_valid_label_name(name));
  }
  for (std::string_view name : {"", "0a", "a:b", "a-b", "__name__", "__x", "wëb"}) {
    CAPTURE(name);
    CHECK_FALSE(is_valid_label_name(name));
  }
}
