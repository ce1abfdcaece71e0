// effective_policy: per-field override of the host's defaults, within hostd's hard limits.
#include "host-agent/policy/effective_policy.hpp"

#include <doctest/doctest.h>

using namespace perfkvm::host;
using perfkvm::protocol::EventKind;
using perfkvm::protocol::StartMode;

namespace {

constexpr HostLimits kLimits{10, 32, 4};

}  // namespace

TEST_CASE("without a policy on either side: the built-in defaults and the hard limits") {
  const EffectivePolicy policy =
      effective_policy(DomainPolicy{}, host_policy_defaults(kLimits, GuestRequests::allow));
  CHECK(describe(policy) ==
        "guest-requests: allow (default)\n"
        "events: all (default)\n"
        "min-interval-ms: 10 (default)\n"
        "max-sessions: 4 (default)\n"
        "max-events: 32 (default)\n"
        "modes: all, guest, host, both (default)\n"
        "export: yes (default)\n");
  CHECK(policy.modes.value == all_start_modes());
}

TEST_CASE("--default-policy deny is the default a domain's metadata can lift") {
  const HostPolicyDefaults host = host_policy_defaults(kLimits, GuestRequests::deny);
  CHECK(effective_policy(DomainPolicy{}, host).guest_requests ==
        PolicyValue<GuestRequests>{GuestRequests::deny, PolicySource::host_default});
  DomainPolicy domain;
  domain.guest_requests = GuestRequests::allow;
  CHECK(effective_policy(domain, host).guest_requests ==
        PolicyValue<GuestRequests>{GuestRequests::allow, PolicySource::domain});
}

TEST_CASE("each field the domain states overrides the host's default, the others stay") {
  HostPolicyDefaults host = host_policy_defaults(kLimits, GuestRequests::allow);
  host.defaults.events = EventAllowList{{EventKind::software}, {}};
  host.defaults.max_events = 8;
  host.defaults.export_counted = false;
  host.defaults.modes = std::vector{StartMode::guest};

  DomainPolicy domain;
  domain.events = EventAllowList{{EventKind::hardware}, {"task-clock"}};  // looser than default
  domain.min_interval_ms = 100;
  domain.modes = std::vector{StartMode::guest, StartMode::host};

  CHECK(describe(effective_policy(domain, host)) ==
        "guest-requests: allow (default)\n"
        "events: hardware, task-clock (domain)\n"
        "min-interval-ms: 100 (domain)\n"
        "max-sessions: 4 (default)\n"
        "max-events: 8 (default)\n"
        "modes: guest, host (domain)\n"
        "export: no (default)\n");
}

TEST_CASE("no domain and no default goes beyond hostd's hard limits") {
  HostPolicyDefaults host = host_policy_defaults(kLimits, GuestRequests::allow);
  host.defaults.max_sessions = 16;  // the default itself beyond the limit
  DomainPolicy domain;
  domain.min_interval_ms = 5;
  domain.max_events = 64;
  const EffectivePolicy policy = effective_policy(domain, host);
  CHECK(policy.min_interval_ms ==
        PolicyLimit{10, PolicySource::host_limit, 5, PolicySource::domain});
  CHECK(policy.max_events == PolicyLimit{32, PolicySource::host_limit, 64, PolicySource::domain});
  CHECK(policy.max_sessions ==
        PolicyLimit{4, PolicySource::host_limit, 16, PolicySource::host_default});
  CHECK(describe(policy) ==
        "guest-requests: allow (default)\n"
        "events: all (default)\n"
        "min-interval-ms: 10 (host limit; the domain asks for 5)\n"
        "max-sessions: 4 (host limit; the default asks for 16)\n"
        "max-events: 32 (host limit; the domain asks for 64)\n"
        "modes: all, guest, host, both (default)\n"
        "export: yes (default)\n");
  // Within the limits, the domain's value stands, tighter or equal.
  domain.min_interval_ms = 10;
  domain.max_events = 3;
  CHECK(effective_policy(domain, host).min_interval_ms ==
        PolicyLimit{10, PolicySource::domain, std::nullopt, PolicySource::domain});
  CHECK(effective_policy(domain, host).max_events ==
        PolicyLimit{3, PolicySource::domain, std::nullopt, PolicySource::domain});
}
