#include "host-agent/session/session_policy.hpp"

#include "host-agent/policy/policy_checks.hpp"
#include "host-agent/session/channel_connection.hpp"

namespace perfkvm::host {

EffectivePolicy effective_policy(const DomainContext& domain, const SessionConfig& config) {
  return effective_policy(domain.policy, config.policy_host());
}

std::vector<protocol::EventStatus> permitted_event_table(
    const std::vector<protocol::EventStatus>& host_table, const EffectivePolicy& policy) {
  std::vector<protocol::EventStatus> table = host_table;
  for (auto& status : table) {
    const protocol::EventInfo* event = protocol::find_event(status.name);
    // An event the host cannot count stays not-supported: that is true whatever the policy.
    if (event == nullptr || status.status != protocol::Availability::supported ||
        event_allowed(policy, *event)) {
      continue;
    }
    status.status = protocol::Availability::not_permitted;
    status.reason = "this domain's policy (rule 'events') allows: " +
                    describe(*policy.events.value);
  }
  return table;
}

protocol::Limits permitted_limits(const EffectivePolicy& policy, const SessionConfig& config) {
  protocol::Limits limits = config.limits();
  limits.min_interval_ms = policy.min_interval_ms.value;
  limits.max_events = policy.max_events.value;
  limits.max_sessions = policy.max_sessions.value;
  return limits;
}

void change_policy(DomainContext& domain, DomainPolicy policy) {
  if (domain.policy == policy) return;
  domain.policy = std::move(policy);
  // Copied first: a channel told may end its request, and nothing it does may touch the list.
  const auto channels = domain.channels;
  std::erase_if(domain.channels, [](const auto& channel) { return channel.expired(); });
  for (const auto& weak : channels) {
    if (const auto channel = weak.lock()) channel->policy_changed();
  }
}

}  // namespace perfkvm::host
