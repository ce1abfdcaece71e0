#include "host-agent/admin/policy_command_line.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>

#include "cli/usage.hpp"
#include "util/printable.hpp"

namespace perfkvm::host {

namespace {

constexpr const char* kFieldGroup = "Fields to change (at least one)";
constexpr const char* kScopeGroup = "Which definition (neither: the current one)";

std::string_view trimmed(std::string_view text) {
  constexpr std::string_view kSpace = " \t";
  const auto first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(kSpace) - first + 1);
}

// A CLI11 check from a parser that throws PolicyError: refused at parse time, in the policy
// module's words ("--events: events list: 'cycels' is neither an event nor a class ...").
template <auto parse>
std::string refused_by(const std::string& text) {
  try {
    parse(text);
    return {};
  } catch (const PolicyError& bad) {
    return bad.what();
  }
}

void add_number(CLI::App& sub, const char* name, std::optional<std::uint32_t>& field,
                std::uint32_t max, const char* text, const char* help) {
  sub.add_option_function<std::uint32_t>(
         name, [&field](std::uint32_t value) { field = value; }, help)
      ->option_text(text)
      ->group(kFieldGroup)
      ->check(CLI::Range(1u, max));
}

void add_fields(CLI::App& set, DomainPolicy& changes) {
  auto* allow = set.add_flag_callback(
      "--allow", [&changes] { changes.guest_requests = GuestRequests::allow; },
      "guest-requests='allow': serve the guest's requests");
  allow->group(kFieldGroup);
  set.add_flag_callback(
         "--deny", [&changes] { changes.guest_requests = GuestRequests::deny; },
         "guest-requests='deny': refuse every request of\nthe guest")
      ->group(kFieldGroup)
      ->excludes(allow);
  set.add_option_function<std::string>(
         "--events",
         [&changes](const std::string& text) { changes.events = parse_event_list(text); },
         "events the guest may count: event names and\nthe classes software, hardware")
      ->option_text("LIST")
      ->group(kFieldGroup)
      ->check(refused_by<parse_event_list>);
  add_number(set, "--min-interval", changes.min_interval_ms, kMaxPolicyIntervalMs, "MS",
             "shortest sample interval the guest may ask\nfor, ms");
  add_number(set, "--max-sessions", changes.max_sessions, kMaxPolicyCount, "N",
             "concurrent sessions of the guest");
  add_number(set, "--max-events", changes.max_events, kMaxPolicyCount, "N",
             "events per request");
  set.add_option_function<std::string>(
         "--modes", [&changes](const std::string& text) { changes.modes = parse_mode_list(text); },
         "start modes the guest may ask for: all, guest,\nhost, both")
      ->option_text("LIST")
      ->group(kFieldGroup)
      ->check(refused_by<parse_mode_list>);
  set.add_option_function<std::string>(
         "--export",
         [&changes](const std::string& text) { changes.export_counted = text == "yes"; },
         "whether the Prometheus export counts the domain")
      ->option_text("yes|no")
      ->group(kFieldGroup)
      ->check(CLI::IsMember({"yes", "no"}));
}

void add_scope(CLI::App& sub, PolicyCommand& command) {
  sub.add_flag("--live", command.live, "the running domain")->group(kScopeGroup);
  sub.add_flag("--config", command.config, "the persistent definition (next start)")
      ->group(kScopeGroup);
}

}  // namespace

std::vector<protocol::StartMode> parse_mode_list(std::string_view comma_separated) {
  std::vector<protocol::StartMode> modes;
  std::size_t position = 1;
  while (true) {
    const auto comma = comma_separated.find(',');
    const std::string_view entry = trimmed(comma_separated.substr(0, comma));
    if (entry.empty()) {
      throw PolicyError("modes list: entry " + std::to_string(position) + " is empty");
    }
    const std::string shown = "'" + printable(entry, 64) + "'";
    const auto mode = protocol::enum_from_string<protocol::StartMode>(entry);
    if (!mode) {
      throw PolicyError("modes list: " + shown + " is not " +
                        protocol::enum_choices<protocol::StartMode>());
    }
    if (std::find(modes.begin(), modes.end(), *mode) != modes.end()) {
      throw PolicyError("modes list: mode " + shown + " is listed twice");
    }
    modes.push_back(*mode);
    if (comma == std::string_view::npos) break;
    comma_separated.remove_prefix(comma + 1);
    ++position;
  }
  return modes;
}

void add_policy_command(CLI::App& app, PolicyCommand& command) {
  auto* policy =
      app.add_subcommand("policy", "a domain's perfkvm policy, in its libvirt metadata");
  policy->require_subcommand(1);
  auto add_action = [&](const char* name, const char* help, PolicyCommand::Action action) {
    auto* sub = policy->add_subcommand(name, help);
    sub->add_option("domain", command.domain, "domain name or uuid")->required();
    sub->parse_complete_callback([&command, action] { command.action = action; });
    return sub;
  };
  auto* show = add_action("show", "the effective policy, each field with its source",
                          PolicyCommand::Action::show);
  show->add_option_function<std::string>(
          "--hostd-config",
          [&command](const std::string& path) { command.hostd_config = path; },
          std::string("perfkvm-hostd's config file: the host's defaults\nand limits (default:\n") +
              kDefaultHostdConfig + ",\nor the built-in ones if there is none)")
      ->option_text("FILE");
  auto* set = add_action("set", "change the fields given, keep the others",
                         PolicyCommand::Action::set);
  add_fields(*set, command.changes);
  add_scope(*set, command);
  auto* clear = add_action("clear", "remove the domain's perfkvm policy",
                           PolicyCommand::Action::clear);
  add_scope(*clear, command);
}

void check_policy_command(const PolicyCommand& command) {
  if (command.action == PolicyCommand::Action::set && command.changes == DomainPolicy{}) {
    throw cli::UsageError(
        "policy set: nothing to change: give at least one of --allow, --deny, --events, "
        "--min-interval, --max-sessions, --max-events, --modes, --export (policy clear "
        "removes the whole policy)");
  }
}

}  // namespace perfkvm::host
