#include "host-agent/policy/effective_policy.hpp"

#include <sstream>
#include <utility>

namespace perfkvm::host {
namespace {

// The domain's value if it states one, else the host's, else the built-in one.
template <class T>
PolicyValue<T> layered(const std::optional<T>& domain, const std::optional<T>& host,
                       T built_in) {
  if (domain) return {*domain, PolicySource::domain};
  if (host) return {*host, PolicySource::host_default};
  return {std::move(built_in), PolicySource::host_default};
}

enum class Bound { at_least, at_most };

PolicyLimit limited(const std::optional<std::uint32_t>& domain,
                    const std::optional<std::uint32_t>& host, std::uint32_t hard_limit,
                    Bound bound) {
  const PolicyValue<std::uint32_t> chosen = layered(domain, host, hard_limit);
  const bool beyond = bound == Bound::at_least ? chosen.value < hard_limit
                                               : chosen.value > hard_limit;
  if (!beyond) return {chosen.value, chosen.source, std::nullopt, chosen.source};
  return {hard_limit, PolicySource::host_limit, chosen.value, chosen.source};
}

}  // namespace

HostPolicyDefaults host_policy_defaults(const HostLimits& limits, GuestRequests default_policy) {
  HostPolicyDefaults host{limits, {}};
  host.defaults.guest_requests = default_policy;
  return host;
}

std::vector<protocol::StartMode> all_start_modes() {
  std::vector<protocol::StartMode> modes;
  for (const auto& [mode, name] : protocol::EnumStrings<protocol::StartMode>::table) {
    modes.push_back(mode);
  }
  return modes;
}

EffectivePolicy effective_policy(const DomainPolicy& domain, const HostPolicyDefaults& host) {
  const DomainPolicy& defaults = host.defaults;
  EffectivePolicy policy;
  policy.guest_requests =
      layered(domain.guest_requests, defaults.guest_requests, GuestRequests::allow);
  // Not layered(): "no list" (every event) is the built-in default's value.
  policy.events = domain.events ? PolicyValue<std::optional<EventAllowList>>{domain.events,
                                                                             PolicySource::domain}
                                : PolicyValue<std::optional<EventAllowList>>{
                                      defaults.events, PolicySource::host_default};
  policy.min_interval_ms = limited(domain.min_interval_ms, defaults.min_interval_ms,
                                   host.limits.min_interval_ms, Bound::at_least);
  policy.max_sessions = limited(domain.max_sessions, defaults.max_sessions,
                                host.limits.max_sessions, Bound::at_most);
  policy.max_events =
      limited(domain.max_events, defaults.max_events, host.limits.max_events, Bound::at_most);
  policy.modes = layered(domain.modes, defaults.modes, all_start_modes());
  policy.export_counted = layered(domain.export_counted, defaults.export_counted, true);
  return policy;
}

std::string_view to_string(PolicySource source) {
  switch (source) {
    case PolicySource::domain: return "domain";
    case PolicySource::host_default: return "default";
    case PolicySource::host_limit: return "host limit";
  }
  return "?";
}

std::string describe(const EffectivePolicy& policy) {
  std::ostringstream out;
  const auto source = [](PolicySource from) { return " (" + std::string(to_string(from)) + ")"; };
  const auto limit = [&](std::string_view field, const PolicyLimit& value) {
    out << field << ": " << value.value;
    if (value.asked) {
      out << " (host limit; the " << to_string(value.asked_by) << " asks for " << *value.asked
          << ")\n";
    } else {
      out << source(value.source) << '\n';
    }
  };
  out << "guest-requests: " << protocol::to_string(policy.guest_requests.value)
      << source(policy.guest_requests.source) << '\n';
  out << "events: " << (policy.events.value ? describe(*policy.events.value) : "all")
      << source(policy.events.source) << '\n';
  limit("min-interval-ms", policy.min_interval_ms);
  limit("max-sessions", policy.max_sessions);
  limit("max-events", policy.max_events);
  out << "modes: " << describe(policy.modes.value) << source(policy.modes.source) << '\n';
  out << "export: " << (policy.export_counted.value ? "yes" : "no")
      << source(policy.export_counted.source) << '\n';
  return out.str();
}

}  // namespace perfkvm::host
