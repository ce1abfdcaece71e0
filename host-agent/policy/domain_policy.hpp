// A domain's perfkvm policy as its libvirt <metadata> states it: what the guest may ask of
// perfkvm-hostd and whether the export counts the domain. Every field is optional: absent
// means "the host's default" (effective_policy.hpp merges the two). The XML form is in
// policy_xml.hpp; the checks a start must pass are in policy_checks.hpp.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/enum_strings.hpp"
#include "protocol/events.hpp"
#include "protocol/messages.hpp"

namespace perfkvm::host {

// A policy that cannot be read or written; the message says what and where.
class PolicyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class GuestRequests { allow, deny };

// The events a guest may count: whole classes and single events. An event is allowed when
// its class or its name is listed.
struct EventAllowList {
  std::vector<protocol::EventKind> classes;  // in the order written, no duplicates
  std::vector<std::string> events;           // canonical names (aliases are resolved)
  bool operator==(const EventAllowList&) const = default;
};

struct DomainPolicy {
  std::optional<GuestRequests> guest_requests;
  std::optional<EventAllowList> events;
  std::optional<std::uint32_t> min_interval_ms;
  std::optional<std::uint32_t> max_sessions;
  std::optional<std::uint32_t> max_events;
  // The start modes (protocol::StartMode) a guest may ask for, as the protocol names them:
  // 'both' is an entry of its own, not implied by 'guest' and 'host'. Non-empty when present.
  std::optional<std::vector<protocol::StartMode>> modes;
  std::optional<bool> export_counted;  // whether the Prometheus export counts this domain
  bool operator==(const DomainPolicy&) const = default;
};

// Sanity bounds on numbers an untrusted policy may state (the host's hard limits apply on top:
// effective_policy). 0 sessions or events is refused: "nothing" is guest-requests='deny'.
inline constexpr std::uint32_t kMaxPolicyIntervalMs = 86'400'000;  // one day
inline constexpr std::uint32_t kMaxPolicyCount = 1024;              // sessions, events

// The name of an event class: "software" or "hardware".
std::string_view class_name(protocol::EventKind kind);
std::optional<protocol::EventKind> class_from_name(std::string_view name);

// Adds `name` (an event name or alias, or a class name) to `list`. Returns an error message
// ("'cycels' is neither an event nor a class ...") instead, or when `name` is already listed
// (also under its alias): the caller knows where the name came from and prefixes that.
std::optional<std::string> add_allowed(EventAllowList& list, std::string_view name);

// A comma-separated list ("software,instructions"), as `perfkvm-host policy set --events`
// takes it. Throws PolicyError naming the bad entry.
EventAllowList parse_event_list(std::string_view comma_separated);

// "software, instructions": classes first, then events, as the list holds them.
std::string describe(const EventAllowList& list);

// "guest, host"
std::string describe(const std::vector<protocol::StartMode>& modes);

}  // namespace perfkvm::host

namespace perfkvm::protocol {
template <>
struct EnumStrings<host::GuestRequests> {
  static constexpr std::pair<host::GuestRequests, std::string_view> table[] = {
      {host::GuestRequests::allow, "allow"},
      {host::GuestRequests::deny, "deny"},
  };
};
}  // namespace perfkvm::protocol
