// The policy that applies to one domain: its metadata's fields over the host's defaults,
// within the host's hard limits. Each value says where it came from, for
// `perfkvm-host policy show DOMAIN`.
//
// Override rule: a field the domain states replaces the host's default, in either direction:
// the host admin owns both the defaults and every domain's metadata (libvirt write access is
// root's), so a domain may be looser than the default (allow where the default denies, more
// events, shorter interval). Three numbers are also hostd's hard limits (HostLimits, from
// perfkvm-hostd's --min-interval, --max-events, --max-sessions, which every session already
// enforces): no policy goes beyond them, and a value cut to a limit says so
// (PolicySource::host_limit).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "host-agent/policy/domain_policy.hpp"

namespace perfkvm::host {

// hostd's limits for every session: SessionConfig's min_interval_ms, max_events and
// max_sessions, copied by the caller. (The policy module does not include session_config.hpp:
// the session module is the one that will use the policy, not the other way round.)
struct HostLimits {
  std::uint32_t min_interval_ms;  // shortest interval hostd samples at (>= 1)
  std::uint32_t max_events;
  std::uint32_t max_sessions;
  bool operator==(const HostLimits&) const = default;
};

// What a domain without a policy (or without some field) gets.
struct HostPolicyDefaults {
  HostLimits limits;
  // The host's own defaults, field by field, as a domain would state them: set by
  // --default-policy and, later, a configuration file (which can use the same XML element).
  // A field absent here too has the built-in default: allow, every event, the hard limits,
  // every mode, counted by the export.
  DomainPolicy defaults;
};

// --default-policy allow|deny over the built-in defaults.
HostPolicyDefaults host_policy_defaults(const HostLimits& limits, GuestRequests default_policy);

enum class PolicySource {
  domain,        // the domain's metadata
  host_default,  // the host's default (its option, config file or the built-in value)
  host_limit,    // the domain or the default asked for more than hostd allows: cut to the limit
};

template <class T>
struct PolicyValue {
  T value;
  PolicySource source = PolicySource::host_default;
  bool operator==(const PolicyValue&) const = default;
};

// A number bounded by a hard limit. When the limit replaced the value asked for, source is
// host_limit, `asked` that value and `asked_by` where it came from (domain or host_default).
struct PolicyLimit {
  std::uint32_t value = 0;
  PolicySource source = PolicySource::host_default;
  std::optional<std::uint32_t> asked;
  PolicySource asked_by = PolicySource::host_default;
  bool operator==(const PolicyLimit&) const = default;
};

struct EffectivePolicy {
  PolicyValue<GuestRequests> guest_requests;
  PolicyValue<std::optional<EventAllowList>> events;  // none: every event
  PolicyLimit min_interval_ms;
  PolicyLimit max_sessions;
  PolicyLimit max_events;
  PolicyValue<std::vector<protocol::StartMode>> modes;
  PolicyValue<bool> export_counted;
  bool operator==(const EffectivePolicy&) const = default;
};

// Every StartMode, in the protocol's order: the built-in default.
std::vector<protocol::StartMode> all_start_modes();

EffectivePolicy effective_policy(const DomainPolicy& domain, const HostPolicyDefaults& host);

// "domain", "default" or "host limit"
std::string_view to_string(PolicySource source);

// One line per field, "field: value (source)", the fields named as in the XML:
//   guest-requests: allow (default)
//   max-events: 32 (host limit; the domain asks for 64)
std::string describe(const EffectivePolicy& policy);

}  // namespace perfkvm::host
