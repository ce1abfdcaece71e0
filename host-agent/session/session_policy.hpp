// What the domain's policy (host-agent/policy/) means for the sessions on its channels: the
// effective policy from the domain's metadata and the host's defaults, the event table and
// the limits its guest is told (PROTOCOL.md §6.6), and the running requests a policy change
// ends. The rules themselves are the policy module's; this only applies them to a session.
#pragma once

#include <string>
#include <vector>

#include "host-agent/policy/effective_policy.hpp"
#include "host-agent/session/domain_context.hpp"
#include "host-agent/session/session_config.hpp"
#include "protocol/messages.hpp"

namespace perfkvm::host {

EffectivePolicy effective_policy(const DomainContext& domain, const SessionConfig& config);

// The host's event table as this domain's guest sees it: an event the host counts but the
// policy does not allow becomes not-permitted, its reason naming the rule.
std::vector<protocol::EventStatus> permitted_event_table(
    const std::vector<protocol::EventStatus>& host_table, const EffectivePolicy& policy);

// welcome.limits: the host's, narrowed by the policy.
protocol::Limits permitted_limits(const EffectivePolicy& policy, const SessionConfig& config);

// A new policy for the domain: stored, then every channel serving the domain is told (a
// running request that the new policy does not allow ends with not-permitted).
void change_policy(DomainContext& domain, DomainPolicy policy);

}  // namespace perfkvm::host
