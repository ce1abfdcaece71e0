// The policy's checks, one test case per rule: each checks the refusal's exact message, that
// a request within the rule passes, and (in check_start_policy's test) the order of the rules.
#include "host-agent/policy/policy_checks.hpp"

#include <doctest/doctest.h>

using namespace perfkvm::host;
using perfkvm::protocol::EventKind;
using perfkvm::protocol::Start;
using perfkvm::protocol::StartMode;

namespace {

// A permissive host (limits 10 ms, 32 events, 4 sessions) and a domain policy on top.
EffectivePolicy policy_of(const DomainPolicy& domain) {
  return effective_policy(domain,
                          host_policy_defaults(HostLimits{10, 32, 4}, GuestRequests::allow));
}

Start start_of(std::vector<std::string> events, std::optional<std::uint32_t> interval_ms = {},
               StartMode mode = StartMode::all) {
  Start start;
  start.events = std::move(events);
  start.interval_ms = interval_ms;
  start.mode = mode;
  return start;
}

const perfkvm::protocol::EventInfo& event(std::string_view name) {
  const auto* info = perfkvm::protocol::find_event(name);
  REQUIRE(info != nullptr);
  return *info;
}

}  // namespace

TEST_CASE("rule guest-requests: deny refuses, allow passes") {
  DomainPolicy domain;
  CHECK_FALSE(check_guest_requests("web", policy_of(domain)));
  domain.guest_requests = GuestRequests::deny;
  CHECK(check_guest_requests("web", policy_of(domain)) ==
        "domain 'web': policy rule 'guest-requests' is deny: the guest may not count this "
        "domain's vCPUs");
}

TEST_CASE("rule max-events: more events than allowed per request") {
  DomainPolicy domain;
  domain.max_events = 2;
  CHECK_FALSE(check_event_count(start_of({"cycles", "instructions"}), "web", policy_of(domain)));
  CHECK(check_event_count(start_of({"cycles", "instructions", "task-clock"}), "web",
                          policy_of(domain)) ==
        "domain 'web': policy rule 'max-events' allows 2 events per request, the start names 3");
}

TEST_CASE("rule events: an event outside the allowed classes and names") {
  DomainPolicy domain;
  domain.events = EventAllowList{{EventKind::software}, {"instructions"}};
  const EffectivePolicy policy = policy_of(domain);
  CHECK_FALSE(check_events_allowed(start_of({"task-clock", "instructions", "faults"}), "web",
                                   policy));
  // Unknown names are admission's (unknown-event), not the policy's.
  CHECK_FALSE(check_events_allowed(start_of({"no-such-event"}), "web", policy));
  // Reported as the guest wrote it, alias included.
  CHECK(check_events_allowed(start_of({"task-clock", "cycles", "branches"}), "web", policy) ==
        "domain 'web': policy rule 'events' does not allow event 'cycles' (allowed: software, "
        "instructions)");
  // Without a list every event is allowed.
  CHECK_FALSE(check_events_allowed(start_of({"cycles"}), "web", policy_of(DomainPolicy{})));
}

TEST_CASE("event_allowed marks the event table: by class or by name") {
  DomainPolicy domain;
  domain.events = EventAllowList{{EventKind::hardware}, {"page-faults"}};
  const EffectivePolicy policy = policy_of(domain);
  CHECK(event_allowed(policy, event("cycles")));
  CHECK(event_allowed(policy, event("branch-misses")));
  CHECK(event_allowed(policy, event("faults")));  // the alias's entry is page-faults
  CHECK_FALSE(event_allowed(policy, event("task-clock")));
  CHECK(event_allowed(policy_of(DomainPolicy{}), event("task-clock")));
}

TEST_CASE("rule min-interval-ms: an interval below the minimum") {
  DomainPolicy domain;
  domain.min_interval_ms = 100;
  const EffectivePolicy policy = policy_of(domain);
  CHECK_FALSE(check_interval(start_of({"cycles"}, 100), "web", policy));
  CHECK_FALSE(check_interval(start_of({"cycles"}), "web", policy));  // no samples at all
  CHECK(check_interval(start_of({"cycles"}, 99), "web", policy) ==
        "domain 'web': policy rule 'min-interval-ms' requires an interval of at least 100 ms, "
        "the start asks for 99 ms");
}

TEST_CASE("rule modes: a mode not allowed, for starts with hardware events") {
  DomainPolicy domain;
  domain.modes = std::vector{StartMode::guest};
  const EffectivePolicy policy = policy_of(domain);
  CHECK_FALSE(check_mode(start_of({"cycles"}, {}, StartMode::guest), "web", policy));
  CHECK(check_mode(start_of({"task-clock", "cycles"}, {}, StartMode::both), "web", policy) ==
        "domain 'web': policy rule 'modes' does not allow mode 'both' for hardware events "
        "(allowed: guest)");
  // Software events count the same in every mode.
  CHECK_FALSE(check_mode(start_of({"task-clock"}, {}, StartMode::host), "web", policy));
}

TEST_CASE("rule max-sessions: at a hello, with the domain's open sessions") {
  DomainPolicy domain;
  domain.max_sessions = 2;
  CHECK_FALSE(check_session_count(1, "web", policy_of(domain)));
  CHECK(check_session_count(2, "web", policy_of(domain)) ==
        "domain 'web': policy rule 'max-sessions' allows 2 sessions at once, and 2 are open");
}

TEST_CASE("the domain's name is quoted as untrusted text") {
  DomainPolicy domain;
  domain.guest_requests = GuestRequests::deny;
  const auto refused = check_guest_requests("evil\ndomain 'x'", policy_of(domain));
  REQUIRE(refused);
  CHECK(refused->find('\n') == std::string::npos);
  CHECK(refused->rfind("domain 'evil\\x0adomain 'x'': ", 0) == 0);
}

TEST_CASE("check_start_policy: the rules in their documented order") {
  DomainPolicy domain;
  domain.guest_requests = GuestRequests::deny;
  domain.max_events = 1;
  domain.events = EventAllowList{{EventKind::software}, {}};
  domain.min_interval_ms = 100;
  domain.modes = std::vector{StartMode::guest};
  // Breaks every rule; lifting one rule at a time shows the next.
  const Start start = start_of({"cycles", "instructions"}, 50, StartMode::host);
  auto rule_of = [&] {
    const auto refused = check_start_policy(start, "web", policy_of(domain));
    REQUIRE(refused);
    const auto begin = refused->find("policy rule '") + 13;
    return refused->substr(begin, refused->find('\'', begin) - begin);
  };
  CHECK(rule_of() == "guest-requests");
  domain.guest_requests = GuestRequests::allow;
  CHECK(rule_of() == "max-events");
  domain.max_events = 2;
  CHECK(rule_of() == "events");
  domain.events.reset();
  CHECK(rule_of() == "min-interval-ms");
  domain.min_interval_ms = 50;
  CHECK(rule_of() == "modes");
  domain.modes = std::vector{StartMode::host};
  CHECK_FALSE(check_start_policy(start, "web", policy_of(domain)));
}
