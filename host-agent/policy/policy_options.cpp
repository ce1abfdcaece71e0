#include "host-agent/policy/policy_options.hpp"

#include <string>

#include "protocol/messages.hpp"

namespace perfkvm::host {

void add_policy_options(CLI::App& app, const PolicyOptionTargets& targets) {
  const std::string group = kPolicyOptionGroup;
  app.add_option("--min-interval", targets.min_interval_ms,
                 "shortest sample interval a guest may ask for, ms (no policy goes below it)")
      ->capture_default_str()
      ->group(group)
      ->check(CLI::Range(1u, protocol::kMaxIntervalMs));
  app.add_option("--max-events", targets.max_events,
                 "events per request (no policy goes above it)")
      ->capture_default_str()
      ->group(group)
      ->check(CLI::Range(1u, static_cast<std::uint32_t>(protocol::kMaxEventsPerRequest)));
  app.add_option("--max-sessions", targets.max_sessions,
                 "concurrent sessions per domain (no policy goes above it)")
      ->capture_default_str()
      ->group(group)
      ->check(CLI::Range(1u, kMaxPolicyCount));
  DomainPolicy& defaults = targets.defaults;
  app.add_option_function<std::string>(
         "--default-policy",
         [&defaults](const std::string& text) {
           defaults.guest_requests = protocol::enum_from_string<GuestRequests>(text);
         },
         "guest requests of a domain whose metadata does not say (perfkvm:policy "
         "guest-requests): allow or deny")
      ->option_text("allow|deny")
      ->default_str("allow")
      ->group(group)
      ->check(CLI::IsMember({"allow", "deny"}));
  app.add_option_function<std::string>(
         "--default-events",
         [&defaults](const std::string& text) { defaults.events = parse_event_list(text); },
         "events a guest may count unless its domain's policy lists its own: event names and "
         "the classes software, hardware (default: every event)")
      ->option_text("LIST")
      ->group(group)
      // A config file's unquoted `a,b` arrives as two values: one list again.
      ->join(',')
      ->check([](const std::string& text) {
        try {
          parse_event_list(text);
          return std::string();
        } catch (const PolicyError& bad) {
          return std::string(bad.what());
        }
      });
  app.add_option_function<bool>(
         "--default-export",
         [&defaults](bool counted) { defaults.export_counted = counted; },
         "whether the Prometheus export counts a domain whose policy does not say")
      ->option_text("yes|no")
      ->default_str("yes")
      ->group(group);
}

}  // namespace perfkvm::host
