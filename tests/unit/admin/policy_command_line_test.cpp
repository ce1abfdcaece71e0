// perfkvm-host policy's command line (host-agent/admin/policy_command_line.cpp), parsed
// in-process: what each option puts into PolicyCommand, and what is a usage error. The
// program itself (exit status 129 before libvirt, a run against the test driver) is tested in
// admin_options_test.cpp.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "host-agent/admin/host_options.hpp"
#include "host-agent/admin/policy_command_line.hpp"

using namespace perfkvm;
using namespace perfkvm::host;
using Args = std::vector<std::string>;
using protocol::StartMode;

namespace {

PolicyCommand parse_policy(const Args& args) {
  return std::get<PolicyCommand>(std::get<HostCommandLine>(parse_host_arguments(args)).command);
}

std::string usage_error(const Args& args) {
  try {
    parse_host_arguments(args);
  } catch (const cli::UsageError& error) {
    return error.what();
  }
  return "(accepted)";
}

std::string help_of(const Args& args) {
  Args with_help = args;
  with_help.push_back("--help");
  return std::get<cli::ShowText>(parse_host_arguments(with_help)).text;
}

}  // namespace

TEST_CASE("perfkvm-host policy show|set|clear: the action, the domain, the scope") {
  const auto shown = parse_policy({"policy", "show", "web1"});
  CHECK(shown.action == PolicyCommand::Action::show);
  CHECK(shown.domain == "web1");
  CHECK_FALSE(shown.hostd_config);
  CHECK(shown.default_hostd_config == kDefaultHostdConfig);  // the build's sysconfdir
  CHECK(parse_policy({"policy", "show", "web1", "--hostd-config", "/tmp/h.conf"}).hostd_config ==
        "/tmp/h.conf");

  const auto cleared = parse_policy({"policy", "clear", "web1"});
  CHECK(cleared.action == PolicyCommand::Action::clear);
  CHECK_FALSE(cleared.live);
  CHECK_FALSE(cleared.config);
  const auto both = parse_policy({"policy", "clear", "--live", "web1", "--config"});
  CHECK(both.live);
  CHECK(both.config);
  CHECK(parse_policy({"policy", "set", "web1", "--deny", "--live"}).live);
  CHECK(parse_policy({"policy", "set", "web1", "--deny", "--config"}).config);

  // The global options work after the subcommand too.
  const auto line = std::get<HostCommandLine>(
      parse_host_arguments({"policy", "set", "web1", "--allow", "-c", "test:///default"}));
  CHECK(line.uri == "test:///default");
}

TEST_CASE("perfkvm-host policy set: each option sets its field, the others stay absent") {
  const auto deny = parse_policy({"policy", "set", "web1", "--deny"});
  CHECK(deny.action == PolicyCommand::Action::set);
  DomainPolicy expected;
  expected.guest_requests = GuestRequests::deny;
  CHECK(deny.changes == expected);
  CHECK(parse_policy({"policy", "set", "web1", "--allow"}).changes.guest_requests ==
        GuestRequests::allow);

  const auto all = parse_policy({"policy", "set", "web1", "--events", "software, instructions",
                                 "--min-interval", "100", "--max-sessions", "2",
                                 "--max-events", "8", "--modes", "guest,both", "--export", "no"});
  CHECK_FALSE(all.changes.guest_requests);
  REQUIRE(all.changes.events);
  CHECK(all.changes.events->classes == std::vector{protocol::EventKind::software});
  CHECK(all.changes.events->events == std::vector<std::string>{"instructions"});
  CHECK(all.changes.min_interval_ms == 100u);
  CHECK(all.changes.max_sessions == 2u);
  CHECK(all.changes.max_events == 8u);
  CHECK(all.changes.modes == std::vector{StartMode::guest, StartMode::both});
  CHECK(all.changes.export_counted == false);
  CHECK(parse_policy({"policy", "set", "web1", "--export", "yes"}).changes.export_counted ==
        true);
  // Aliases are stored by their canonical names, as the XML writes them.
  CHECK(parse_policy({"policy", "set", "web1", "--events", "cycles"}).changes.events->events ==
        std::vector<std::string>{"cpu-cycles"});
}

TEST_CASE("perfkvm-host policy: usage errors, before libvirt") {
  struct Bad {
    Args args;
    std::string message;
  };
  for (const auto& bad : {
           Bad{{"policy"}, "A subcommand is required"},
           Bad{{"policy", "show"}, "domain is required"},
           Bad{{"policy", "set", "web1"},
               "policy set: nothing to change: give at least one of --allow, --deny, --events, "
               "--min-interval, --max-sessions, --max-events, --modes, --export (policy clear "
               "removes the whole policy)"},
           Bad{{"policy", "set", "web1", "--live", "--config"},
               "policy set: nothing to change: give at least one of --allow, --deny, --events, "
               "--min-interval, --max-sessions, --max-events, --modes, --export (policy clear "
               "removes the whole policy)"},
           Bad{{"policy", "set", "web1", "--allow", "--deny"}, "--allow excludes --deny"},
           // CLI11 names the two in the order they were declared, whichever came first.
           Bad{{"policy", "set", "web1", "--deny", "--allow"}, "--allow excludes --deny"},
           Bad{{"policy", "set", "web1", "--min-interval", "0"},
               "--min-interval: Value 0 not in range 1 to 86400000"},
           Bad{{"policy", "set", "web1", "--min-interval", "86400001"},
               "--min-interval: Value 86400001 not in range 1 to 86400000"},
           Bad{{"policy", "set", "web1", "--max-sessions", "1025"},
               "--max-sessions: Value 1025 not in range 1 to 1024"},
           Bad{{"policy", "set", "web1", "--max-events", "0"},
               "--max-events: Value 0 not in range 1 to 1024"},
           Bad{{"policy", "set", "web1", "--events", "software,,cycles"},
               "--events: events list: entry 2 is empty"},
           Bad{{"policy", "set", "web1", "--events", "cycles,cpu-cycles"},
               "--events: events list: event 'cpu-cycles' is listed twice"},
           Bad{{"policy", "set", "web1", "--modes", "guest,fast"},
               "--modes: modes list: 'fast' is not \"all\", \"guest\", \"host\" or \"both\""},
           Bad{{"policy", "set", "web1", "--modes", "guest,guest"},
               "--modes: modes list: mode 'guest' is listed twice"},
           Bad{{"policy", "set", "web1", "--export", "maybe"},
               "--export: maybe not in {yes,no}"},
           Bad{{"policy", "show", "web1", "--deny"},
               "The following argument was not expected: --deny"},
           Bad{{"policy", "show", "web1", "--live"},
               "The following argument was not expected: --live"},
           Bad{{"policy", "clear", "web1", "--max-events", "2"},
               "The following arguments were not expected: 2 --max-events"},
       }) {
    CAPTURE(bad.args);
    CHECK(usage_error(bad.args) == bad.message);
  }
  // A bad --events names the entry and says what the names are.
  const auto events = usage_error({"policy", "set", "web1", "--events", "software,cycels"});
  CHECK(events.rfind("--events: events list: 'cycels' is neither an event nor a class "
                     "(software, hardware); events are: ",
                     0) == 0);
  CHECK(usage_error({"policy", "set", "web1", "--min-interval", "fast"}) != "(accepted)");
}

TEST_CASE("perfkvm-host policy: the modes list") {
  CHECK(parse_mode_list("all") == std::vector{StartMode::all});
  CHECK(parse_mode_list(" host , guest ") == std::vector{StartMode::host, StartMode::guest});
  CHECK_THROWS_WITH_AS(parse_mode_list(""), "modes list: entry 1 is empty", PolicyError);
  CHECK_THROWS_WITH_AS(parse_mode_list("guest,"), "modes list: entry 2 is empty", PolicyError);
}

TEST_CASE("perfkvm-host policy: with_changes replaces only the fields the changes state") {
  DomainPolicy current;
  current.guest_requests = GuestRequests::deny;
  current.max_sessions = 2;
  current.modes = std::vector{StartMode::guest};
  DomainPolicy changes;
  changes.max_sessions = 3;
  changes.export_counted = false;
  DomainPolicy expected = current;
  expected.max_sessions = 3;
  expected.export_counted = false;
  CHECK(with_changes(current, changes) == expected);
  CHECK(with_changes(current, {}) == current);
  CHECK(with_changes({}, changes) == changes);
}

TEST_CASE("perfkvm-host policy: --help of each subcommand within 80 columns") {
  for (const auto& [command, usage] : {
           std::pair{Args{"policy"}, "Usage: perfkvm-host policy [OPTIONS] SUBCOMMAND"},
           std::pair{Args{"policy", "show"}, "Usage: perfkvm-host policy show [OPTIONS] domain"},
           std::pair{Args{"policy", "set"}, "Usage: perfkvm-host policy set [OPTIONS] domain"},
           std::pair{Args{"policy", "clear"},
                     "Usage: perfkvm-host policy clear [OPTIONS] domain"},
       }) {
    CAPTURE(command);
    const auto text = help_of(command);
    CHECK(text.find(usage) != std::string::npos);
    CHECK(text.find("may come before or after the\nsubcommand") != std::string::npos);
    std::size_t start = 0;
    for (auto end = text.find('\n'); end != std::string::npos; end = text.find('\n', start)) {
      CHECK_MESSAGE(end - start <= 80, text.substr(start, end - start));
      start = end + 1;
    }
  }
  const auto set = help_of({"policy", "set"});
  for (const char* option : {"--allow", "--deny", "--events LIST", "--min-interval MS",
                             "--max-sessions N", "--max-events N", "--modes LIST",
                             "--export yes|no", "--live", "--config"}) {
    CHECK_MESSAGE(set.find(option) != std::string::npos, option);
  }
  CHECK(help_of({"policy", "show"}).find("--hostd-config FILE") != std::string::npos);
  CHECK(help_of({}).find("policy") != std::string::npos);
}
