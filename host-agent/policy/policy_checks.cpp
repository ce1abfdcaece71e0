#include "host-agent/policy/policy_checks.hpp"

#include <algorithm>

#include "util/printable.hpp"

namespace perfkvm::host {
namespace {

constexpr std::size_t kMaxShown = 64;

// Both the domain's name (libvirt's) and event names (the guest's) are quoted untrusted text.
std::string refusal(std::string_view domain, std::string_view rule, const std::string& detail) {
  return "domain '" + printable(domain, kMaxShown) + "': policy rule '" + std::string(rule) +
         "' " + detail;
}

bool names_hardware_event(const protocol::Start& start) {
  return std::any_of(start.events.begin(), start.events.end(), [](const std::string& name) {
    const protocol::EventInfo* event = protocol::parse_event_name(name).event;
    return event != nullptr && event->kind == protocol::EventKind::hardware;
  });
}

}  // namespace

PolicyRefusal check_guest_requests(std::string_view domain, const EffectivePolicy& policy) {
  if (policy.guest_requests.value == GuestRequests::allow) return std::nullopt;
  return refusal(domain, "guest-requests",
                 "is deny: the guest may not count this domain's vCPUs");
}

PolicyRefusal check_event_count(const protocol::Start& start, std::string_view domain,
                                const EffectivePolicy& policy) {
  if (start.events.size() <= policy.max_events.value) return std::nullopt;
  return refusal(domain, "max-events",
                 "allows " + std::to_string(policy.max_events.value) +
                     " events per request, the start names " +
                     std::to_string(start.events.size()));
}

bool event_allowed(const EffectivePolicy& policy, const protocol::EventInfo& event) {
  const auto& allowed = policy.events.value;
  if (!allowed) return true;
  const auto& classes = allowed->classes;
  const auto& events = allowed->events;
  return std::find(classes.begin(), classes.end(), event.kind) != classes.end() ||
         std::find(events.begin(), events.end(), event.name) != events.end();
}

PolicyRefusal check_events_allowed(const protocol::Start& start, std::string_view domain,
                                   const EffectivePolicy& policy) {
  for (const auto& name : start.events) {
    const protocol::EventInfo* event = protocol::parse_event_name(name).event;
    if (event == nullptr || event_allowed(policy, *event)) continue;
    return refusal(domain, "events",
                   "does not allow event '" + printable(name, kMaxShown) + "' (allowed: " +
                       describe(*policy.events.value) + ")");
  }
  return std::nullopt;
}

PolicyRefusal check_interval(const protocol::Start& start, std::string_view domain,
                             const EffectivePolicy& policy) {
  if (!start.interval_ms || *start.interval_ms >= policy.min_interval_ms.value) {
    return std::nullopt;
  }
  return refusal(domain, "min-interval-ms",
                 "requires an interval of at least " +
                     std::to_string(policy.min_interval_ms.value) + " ms, the start asks for " +
                     std::to_string(*start.interval_ms) + " ms");
}

PolicyRefusal check_mode(const protocol::Start& start, std::string_view domain,
                         const EffectivePolicy& policy) {
  const auto& modes = policy.modes.value;
  if (!names_hardware_event(start) ||
      std::find(modes.begin(), modes.end(), start.mode) != modes.end()) {
    return std::nullopt;
  }
  return refusal(domain, "modes",
                 "does not allow mode '" + std::string(protocol::to_string(start.mode)) +
                     "' for hardware events (allowed: " + describe(modes) + ")");
}

PolicyRefusal check_session_count(std::uint32_t open_sessions, std::string_view domain,
                                  const EffectivePolicy& policy) {
  if (open_sessions < policy.max_sessions.value) return std::nullopt;
  return refusal(domain, "max-sessions",
                 "allows " + std::to_string(policy.max_sessions.value) +
                     " sessions at once, and " + std::to_string(open_sessions) + " are open");
}

PolicyRefusal check_start_policy(const protocol::Start& start, std::string_view domain,
                                 const EffectivePolicy& policy) {
  if (auto refused = check_guest_requests(domain, policy)) return refused;
  if (auto refused = check_event_count(start, domain, policy)) return refused;
  if (auto refused = check_events_allowed(start, domain, policy)) return refused;
  if (auto refused = check_interval(start, domain, policy)) return refused;
  return check_mode(start, domain, policy);
}

}  // namespace perfkvm::host
