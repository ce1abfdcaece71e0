// The checks a domain's effective policy puts on a guest's requests: pure functions, one per
// rule, each returning the refusal's message (nullopt: the rule allows it). The message names
// the domain and the rule, by its XML name:
//   domain 'web': policy rule 'events' does not allow event 'cycles' (allowed: software)
// The caller answers a refusal with error code not-permitted.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "host-agent/policy/effective_policy.hpp"
#include "protocol/events.hpp"
#include "protocol/messages.hpp"

namespace perfkvm::host {

using PolicyRefusal = std::optional<std::string>;

// guest-requests: deny refuses every request of the domain's guest.
PolicyRefusal check_guest_requests(std::string_view domain, const EffectivePolicy& policy);

// max-events: events named by one start.
PolicyRefusal check_event_count(const protocol::Start& start, std::string_view domain,
                                const EffectivePolicy& policy);

// events: the first named event the policy does not allow. Names that are not in the
// catalogue are let through: admission answers them with unknown-event.
PolicyRefusal check_events_allowed(const protocol::Start& start, std::string_view domain,
                                   const EffectivePolicy& policy);

// min-interval-ms: a start without an interval (only the final report) always passes.
PolicyRefusal check_interval(const protocol::Start& start, std::string_view domain,
                             const EffectivePolicy& policy);

// modes: checked only when the start names a hardware event, since software events are
// counted the same in every mode (protocol::StartMode) and the mode changes nothing for them.
PolicyRefusal check_mode(const protocol::Start& start, std::string_view domain,
                         const EffectivePolicy& policy);

// max-sessions: at a hello, with the domain's sessions already open (not part of a start).
PolicyRefusal check_session_count(std::uint32_t open_sessions, std::string_view domain,
                                  const EffectivePolicy& policy);

// Whether the event table marks the event not-permitted (false) for this domain.
bool event_allowed(const EffectivePolicy& policy, const protocol::EventInfo& event);

// The start's checks in this order, the first refusal the answer: guest-requests (it says
// everything), max-events (cheap, and before looking at names, as admission does), events,
// min-interval-ms, modes.
PolicyRefusal check_start_policy(const protocol::Start& start, std::string_view domain,
                                 const EffectivePolicy& policy);

}  // namespace perfkvm::host
