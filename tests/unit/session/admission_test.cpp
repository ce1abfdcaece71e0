// check_start, one test per numbered rule of PROTOCOL.md §6.2 ("Checking a start"). Each test
// checks the rule's answer and that it comes before the next rule's (a start failing both gets
// the earlier answer). Admission opens nothing, so the thread ids here need not exist.
#include "host-agent/session/admission.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "protocol/events.hpp"

namespace {

using namespace perfkvm::host;
using perfkvm::protocol::ErrorCode;
using perfkvm::protocol::Scope;
using perfkvm::protocol::Start;
using perfkvm::protocol::StartMode;

struct Admission {
  SessionConfig config;
  DomainContext domain;
  VcpuResolution resolution;
  int lookups = 0;

  Admission() {
    domain.name = "web1";
    domain.vcpus = 2;
    resolution.threads = {{0, 101}, {1, 102}};
    resolution.source = "comm";
  }

  StartDecision check(const Start& start, std::optional<std::uint64_t> running = std::nullopt) {
    return check_start(start, running, domain, config, [this] {
      ++lookups;
      return resolution;
    });
  }
};

Start start(std::vector<std::string> events) {
  Start s;
  s.nonce = "0123456789abcdef";
  s.request_id = 7;
  s.events = std::move(events);
  return s;
}

StartRefusal refused(const StartDecision& decision) {
  REQUIRE(std::holds_alternative<StartRefusal>(decision));
  return std::get<StartRefusal>(decision);
}

AdmittedStart admitted(const StartDecision& decision) {
  if (const auto* refusal = std::get_if<StartRefusal>(&decision)) {
    FAIL_CHECK("refused: " << perfkvm::protocol::to_string(refusal->code) << ": "
                           << refusal->message);
  }
  REQUIRE(std::holds_alternative<AdmittedStart>(decision));
  return std::get<AdmittedStart>(decision);
}

const std::string kTooManyEvents = "3 events requested; this host allows 2 per request";

}  // namespace

TEST_CASE("admission rule 1: a request running in the session is busy, before anything else") {
  Admission a;
  CHECK(refused(a.check(start({"task-clock"}), 6)) ==
        StartRefusal{ErrorCode::busy,
                     "request 6 is still counting on this channel; stop it first"});
  a.config.max_events = 2;
  CHECK(refused(a.check(start({"task-clock", "cs", "faults"}), 6)).code == ErrorCode::busy);
  CHECK(a.lookups == 0);
  CHECK(admitted(a.check(start({"task-clock"}))).threads.size() == 2);
}

TEST_CASE("admission rule 2: more events than max_events, before their names are checked") {
  Admission a;
  a.config.max_events = 2;
  CHECK(refused(a.check(start({"task-clock", "cs", "faults"}))) ==
        StartRefusal{ErrorCode::too_many_events, kTooManyEvents});
  CHECK(refused(a.check(start({"task-clock", "cs", "no-such-event"}))) ==
        StartRefusal{ErrorCode::too_many_events, kTooManyEvents});
  CHECK(admitted(a.check(start({"task-clock", "cs"}))).plan.size() == 2);  // at the limit
}

TEST_CASE("admission rule 3: an unknown name, before the interval; supported or not does not "
          "matter") {
  Admission a;
  auto s = start({"task-clock", "cyles"});
  CHECK(refused(a.check(s)) ==
        StartRefusal{ErrorCode::unknown_event, "unknown event 'cyles'; valid events: " +
                                                   perfkvm::protocol::event_names_list()});
  s.interval_ms = 1;
  CHECK(refused(a.check(s)).code == ErrorCode::unknown_event);
  // A hardware event is admitted whatever the PMU can do (its column may be not-supported),
  // and an alias is a name: the plan labels it as spelt.
  const auto plan = admitted(a.check(start({"cycles", "cs"}))).plan;
  REQUIRE(plan.size() == 2);
  CHECK(plan[0].name() == "cycles");
  CHECK(plan[0].event == perfkvm::protocol::find_event("cpu-cycles"));
  CHECK(plan[1].name() == "cs");
}

TEST_CASE("admission rule 3: perf's :G / :H fix one side of a hardware event; other modifiers "
          "are refused with why") {
  Admission a;
  auto s = start({"cycles:G", "instructions", "cycles:H"});
  s.mode = StartMode::both;
  const auto plan = admitted(a.check(s)).plan;
  REQUIRE(plan.size() == 4);  // the modifiers' one column each, instructions both sides
  CHECK(plan[0].name() == "cycles");
  CHECK(plan[0].scope == Scope::guest);
  CHECK(plan[1].scope == Scope::guest);
  CHECK(plan[2].scope == Scope::host);
  CHECK(plan[3].name() == "cycles");
  CHECK(plan[3].scope == Scope::host);
  const StartRefusal user = refused(a.check(start({"task-clock", "cycles:u"})));
  CHECK(user.code == ErrorCode::unknown_event);
  CHECK(user.message.rfind("'cycles:u': a host cannot split a guest's user and kernel time", 0) == 0);
  CHECK(refused(a.check(start({"task-clock:H"}))).message ==
        "'task-clock:H': :G and :H split a hardware count between guest and host; a software "
        "event counts the vCPU thread as a whole");
  CHECK(refused(a.check(start({"cycels:G"}))).message.rfind("unknown event 'cycels:G'", 0) == 0);
}

TEST_CASE("admission rule 4: an interval below min_interval_ms, before the vCPUs") {
  Admission a;
  auto s = start({"task-clock"});
  s.interval_ms = 5;
  CHECK(refused(a.check(s)) ==
        StartRefusal{ErrorCode::interval_too_short,
                     "interval 5 ms is below this host's minimum of 10 ms"});
  s.vcpus = std::vector<std::uint32_t>{7};
  CHECK(refused(a.check(s)).code == ErrorCode::interval_too_short);
  s.vcpus.reset();
  s.interval_ms = 10;  // at the minimum
  admitted(a.check(s));
  s.interval_ms.reset();  // no samples at all
  admitted(a.check(s));
}

TEST_CASE("admission rule 5: the domain's policy, after the host's own limits, before the vCPUs "
          "and without a thread lookup") {
  Admission a;
  a.domain.policy.events = parse_event_list("software");
  a.domain.policy.min_interval_ms = 100;
  auto s = start({"task-clock", "instructions"});
  CHECK(refused(a.check(s)) ==
        StartRefusal{ErrorCode::not_permitted,
                     "domain 'web1': policy rule 'events' does not allow event 'instructions' "
                     "(allowed: software)"});
  // The host's limits keep their codes (rules 2 and 4); the policy only narrows them.
  s.interval_ms = 5;
  CHECK(refused(a.check(s)).code == ErrorCode::interval_too_short);
  s.events = {"task-clock"};
  s.interval_ms = 50;  // above the host's 10 ms, below the domain's 100 ms
  CHECK(refused(a.check(s)).code == ErrorCode::not_permitted);
  s.vcpus = std::vector<std::uint32_t>{7};  // rule 6 comes after
  CHECK(refused(a.check(s)).message.find("'min-interval-ms'") != std::string::npos);
  CHECK(a.lookups == 0);
  s.vcpus.reset();
  s.interval_ms = 100;
  admitted(a.check(s));
  // The host's defaults apply where the domain says nothing: a host that denies by default.
  a.domain.policy = {};
  a.config.policy_defaults.guest_requests = GuestRequests::deny;
  CHECK(refused(a.check(s)).message ==
        "domain 'web1': policy rule 'guest-requests' is deny: the guest may not count this "
        "domain's vCPUs");
  a.domain.policy.guest_requests = GuestRequests::allow;  // the domain's word wins
  admitted(a.check(s));
}

TEST_CASE("admission rule 6: a vCPU index beyond the domain, or a vCPU without a thread") {
  Admission a;
  auto s = start({"task-clock"});
  s.vcpus = std::vector<std::uint32_t>{0, 7};
  CHECK(refused(a.check(s)) ==
        StartRefusal{ErrorCode::invalid_vcpu,
                     "vCPU 7 does not exist: domain 'web1' has 2 vCPUs (0 to 1)"});
  // Known from the domain's XML: answered before the threads are looked up (rule 7).
  a.resolution.threads.clear();
  CHECK(refused(a.check(s)).code == ErrorCode::invalid_vcpu);
  CHECK(a.lookups == 0);

  // vCPU 1 of 3 is offline: naming it is invalid-vcpu, before the counter budget (rule 8).
  a.domain.vcpus = 3;
  a.resolution.threads = {{0, 101}, {2, 103}};
  a.config.max_counters = 1;
  s.vcpus = std::vector<std::uint32_t>{2, 1, 0};
  CHECK(refused(a.check(s)) ==
        StartRefusal{ErrorCode::invalid_vcpu,
                     "vCPU 1 of domain 'web1' has no thread (offline?); vCPUs with threads: 0,2"});
  s.vcpus = std::vector<std::uint32_t>{2};
  CHECK(admitted(a.check(s)).threads == std::vector<VcpuThread>{{2, 103}});
}

TEST_CASE("admission rule 7: no vCPU threads is domain-unavailable, even for a named vCPU") {
  Admission a;
  a.resolution.threads.clear();
  a.resolution.source.clear();
  a.resolution.problem = "no QEMU process of domain 'web1' (not running?)";
  a.config.max_counters = 0;  // rule 8 would refuse anything
  // The guest is told which domain, not why: that names the host's pids and paths.
  const StartRefusal refusal{
      ErrorCode::domain_unavailable,
      "cannot find the vCPU threads of domain 'web1' (is it running? the host's log says why)",
      "no QEMU process of domain 'web1' (not running?)"};
  CHECK(refused(a.check(start({"task-clock"}))) == refusal);
  // Not the spec's order (rule 6 first), on purpose: with no threads at all the domain is not
  // running, whichever vCPU the start names.
  auto named = start({"task-clock"});
  named.vcpus = std::vector<std::uint32_t>{0};
  CHECK(refused(a.check(named)) == refusal);
  CHECK(a.lookups == 2);  // looked up at every start: vCPUs come and go
}

TEST_CASE("admission rule 8: columns x counted vCPUs over the per-request or host-wide budget") {
  Admission a;
  a.config.max_counters = 4;
  CHECK(refused(a.check(start({"task-clock", "cs", "faults"}))) ==
        StartRefusal{ErrorCode::too_many_events,
                     "3 columns on 2 vCPUs need 6 counters; this host allows 4 per request "
                     "(perfkvm-hostd --max-counters)"});
  // Columns count, not events: a hardware event in mode both is two.
  auto both = start({"cycles", "task-clock"});
  both.mode = StartMode::both;
  CHECK(refused(a.check(both)).message.rfind("3 columns on 2 vCPUs need 6 counters", 0) == 0);
  // Counted vCPUs count, not the domain's.
  auto one_vcpu = start({"task-clock", "cs", "faults"});
  one_vcpu.vcpus = std::vector<std::uint32_t>{1};
  CHECK(admitted(a.check(one_vcpu)).counters() == 3);
  // Before the frame limit (rule 9).
  a.config.max_frame_bytes = 1;
  CHECK(refused(a.check(start({"task-clock", "cs", "faults"}))).message.rfind("3 columns on", 0) ==
        0);

  // All requests together: 6 of 10 are taken by others, so 6 more do not fit and 4 do.
  Admission host;
  host.config.host_counters = std::make_shared<CounterBudget>(10);
  const auto others = host.config.host_counters->take(6);
  CHECK(refused(host.check(start({"task-clock", "cs", "faults"}))) ==
        StartRefusal{ErrorCode::too_many_events,
                     "6 counters would take this host over its limit for all guests together: 6 "
                     "of 10 are in use (perfkvm-hostd --max-host-counters); count fewer events "
                     "or vCPUs, or try again when other measurements have ended"});
  CHECK(admitted(host.check(start({"task-clock", "cs"}))).counters() == 4);
  CHECK(host.config.host_counters->in_use() == 6);  // admission takes nothing
}

TEST_CASE("admission rule 8: the domain's share of the host's counters, before the host-wide "
          "budget") {
  Admission a;
  a.domain.counters = std::make_shared<CounterBudget>(8);
  const auto its_other_request = a.domain.counters->take(4);
  a.config.host_counters = std::make_shared<CounterBudget>(0);  // would refuse anything
  CHECK(refused(a.check(start({"task-clock", "cs", "faults"}))) ==
        StartRefusal{ErrorCode::too_many_events,
                     "6 counters would take domain 'web1' over its share of this host's "
                     "counters: 4 of 8 are in use by its other requests (perfkvm-hostd "
                     "--max-domain-counters); count fewer events or vCPUs, or try again when "
                     "they have ended"});
  // Within the share, the host-wide budget answers.
  CHECK(refused(a.check(start({"task-clock", "cs"}))).message.find("for all guests together") !=
        std::string::npos);
  a.config.host_counters = std::make_shared<CounterBudget>(100);
  CHECK(admitted(a.check(start({"task-clock", "cs"}))).counters() == 4);
  CHECK(a.domain.counters->in_use() == 4);  // admission takes nothing
}

TEST_CASE("admission rule 9: a sample that could exceed max_frame_bytes, before the host-wide "
          "budget") {
  Admission a;
  // One column on two vCPUs with per-vCPU rows: 400 + 67 + 2 x (48 + 67) = 697 bytes.
  REQUIRE(worst_sample_bytes(1, 2, true) == 697);
  REQUIRE(worst_sample_bytes(1, 2, false) == 467);
  a.config.max_frame_bytes = 696;
  auto s = start({"task-clock"});
  s.per_vcpu = true;
  CHECK(refused(a.check(s)) ==
        StartRefusal{ErrorCode::too_many_events,
                     "1 columns for 2 vCPUs would not fit in this host's maximum frame of 696 "
                     "bytes; count fewer events or vCPUs, or drop the per-vCPU breakdown"});
  // Not the spec's order (the host-wide budget is rule 8), on purpose: a start this refuses can
  // never fit, so it is not told to try again later.
  a.config.host_counters = std::make_shared<CounterBudget>(0);
  CHECK(refused(a.check(s)).message.rfind("1 columns for 2 vCPUs would not fit", 0) == 0);
  a.config.host_counters = std::make_shared<CounterBudget>(2);
  s.per_vcpu = false;
  admitted(a.check(s));
  s.per_vcpu = true;
  a.config.max_frame_bytes = 697;  // exactly the estimate
  admitted(a.check(s));
}

TEST_CASE("admission rule 10: any other failure to set up is internal") {
  Admission a;
  const auto failing = [] () -> VcpuResolution {
    throw std::runtime_error("libvirt: connection reset by peer");
  };
  // A failing lookup is let through to the caller, which answers it with setup_failure.
  CHECK_THROWS_WITH_AS(check_start(start({"task-clock"}), std::nullopt, a.domain, a.config,
                                   failing),
                       "libvirt: connection reset by peer", std::runtime_error);
  CHECK(setup_failure("libvirt: connection reset by peer") ==
        StartRefusal{ErrorCode::internal,
                     "the host could not start counting (an internal error: the host's log "
                     "says why)",
                     "libvirt: connection reset by peer"});
  // Only once the earlier checks pass: their answers are not hidden by the failure.
  auto s = start({"cyles"});
  CHECK(refused(check_start(s, std::nullopt, a.domain, a.config, failing)).code ==
        ErrorCode::unknown_event);
}

TEST_CASE("an admitted start: the plan named as spelt, the threads in vCPU order, its counters") {
  Admission a;
  auto s = start({"cycles", "task-clock"});
  s.mode = StartMode::both;
  s.vcpus = std::vector<std::uint32_t>{1, 0};
  const auto start_ok = admitted(a.check(s));
  REQUIRE(start_ok.plan.size() == 3);
  CHECK(start_ok.plan[0].name() == "cycles");
  CHECK(start_ok.plan[0].scope == Scope::guest);
  CHECK(start_ok.plan[1].name() == "cycles");
  CHECK(start_ok.plan[1].scope == Scope::host);
  CHECK(start_ok.plan[2].name() == "task-clock");
  CHECK(start_ok.plan[2].scope == Scope::all);
  CHECK(start_ok.threads == std::vector<VcpuThread>{{0, 101}, {1, 102}});
  CHECK(start_ok.counters() == 6);
  CHECK(start_ok.thread_source == "comm");
  CHECK(a.lookups == 1);
}

TEST_CASE("admission: a domain with more vCPUs than the wire carries counts its first 4096") {
  Admission a;
  a.domain.vcpus = 5000;
  a.config.max_counters = 10'000;
  a.resolution.threads = {{0, 101}, {4095, 102}, {4096, 103}, {4999, 104}};
  const auto counted = admitted(a.check(start({"task-clock"})));
  CHECK(counted.threads == std::vector<VcpuThread>{{0, 101}, {4095, 102}});
}

TEST_CASE("after the counters are open: a counted thread no longer its vCPU's is found") {
  VcpuResolution now;
  now.threads = {{0, 101}, {1, 102}, {2, 103}};
  CHECK_FALSE(replaced_thread({{0, 101}, {2, 103}}, now));
  // vCPU 1's thread exited and its id went to vCPU 2's new thread, or to nothing at all.
  now.threads = {{0, 101}, {2, 102}};
  const auto replaced = replaced_thread({{0, 101}, {1, 102}}, now);
  REQUIRE(replaced);
  CHECK(*replaced == VcpuThread{1, 102});
  CHECK(replaced_thread({{0, 101}}, VcpuResolution{}) == VcpuThread{0, 101});
}

TEST_CASE("admission rule 8: the domain's counter reads a second, sampling requests only") {
  Admission a;
  a.config.max_counters = 100'000;
  a.config.min_interval_ms = 1;
  a.domain.reads = std::make_shared<CounterBudget>(1000);
  const auto its_other_request = a.domain.reads->take(600);
  // 2 columns on 2 vCPUs every 10 ms: 400 reads a second, which fit in the 400 left.
  auto sampling = start({"task-clock", "cs"});
  sampling.interval_ms = 10;
  CHECK(admitted(a.check(sampling)).reads_per_second == 400);
  sampling.interval_ms = 9;  // 445 (rounded up)
  CHECK(refused(a.check(sampling)) ==
        StartRefusal{ErrorCode::too_many_events,
                     "sampling every 9 ms would read 445 counters a second; domain 'web1' may "
                     "read 1000 a second and its other requests read 600 (perfkvm-hostd "
                     "--max-counter-reads); sample less often, count fewer events or vCPUs, or "
                     "try again when they have ended"});
  // Without samples the counters are read once, at the end: nothing a second.
  CHECK(admitted(a.check(start({"task-clock", "cs"}))).reads_per_second == 0);
}
