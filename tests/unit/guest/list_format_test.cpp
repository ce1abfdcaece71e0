// perfkvm list's lines and the report header's target, in-process.
#include <doctest/doctest.h>

#include <sstream>

#include "guest-agent/list_command.hpp"
#include "guest-agent/run_command.hpp"

using namespace perfkvm;
using namespace perfkvm::guest;

TEST_CASE("perfkvm list prints events as perf list does, with the host's verdict") {
  protocol::Welcome welcome;
  welcome.domain_name = "web1";
  welcome.vcpus = 4;
  const std::vector<protocol::EventStatus> events = {
      {"cpu-cycles", protocol::EventKind::hardware, protocol::Availability::not_supported,
       "no hardware PMU on this host (ENOENT)"},
      {"instructions", protocol::EventKind::hardware, protocol::Availability::supported, ""},
      {"context-switches", protocol::EventKind::software, protocol::Availability::supported, ""},
      {"bad\nname", protocol::EventKind::software, protocol::Availability::not_supported, ""},
      {"page-faults", protocol::EventKind::software, protocol::Availability::not_permitted,
       "this domain's policy (rule 'events') allows: instructions"},
  };
  CHECK(format_event_list(events, welcome) ==
        "Events perfkvm-hostd counts for VM 'web1' (4 vCPUs), to be used in -e:\n"
        "\n"
        "  cpu-cycles OR cycles                               [Hardware event] <not supported> "
        "(no hardware PMU on this host (ENOENT))\n"
        "  instructions                                       [Hardware event]\n"
        "  context-switches OR cs                             [Software event]\n"
        "  bad\\x0aname                                        [Software event] <not supported>\n"
        "  page-faults OR faults                              [Software event] <not permitted> "
        "(this domain's policy (rule 'events') allows: instructions)\n");
}

TEST_CASE("the report header names the VM and the vCPUs counted") {
  protocol::Welcome welcome;
  welcome.domain_name = "web1";
  welcome.vcpus = 4;
  protocol::Started started;
  started.vcpus = {0, 1, 2, 3};
  CHECK(target_label(welcome, started) == "VM 'web1' (4 vCPUs)");
  started.vcpus = {0, 2};
  CHECK(target_label(welcome, started) == "VM 'web1' (vCPUs 0,2 of 4)");
  welcome.domain_name.clear();
  CHECK(target_label(welcome, started) == "this VM (vCPUs 0,2 of 4)");
  welcome.domain_name = "evil\x1b[2J";
  CHECK(target_label(welcome, started) == "VM 'evil\\x1b[2J' (vCPUs 0,2 of 4)");
}

TEST_CASE("diagnostics keep the host's control characters off the terminal") {
  std::ostringstream out;
  Diagnostics diagnostics(out);
  diagnostics.error("perfkvm-hostd: internal: bad\x1b]0;title\x07 news\n");
  CHECK(out.str() ==
        "perfkvm: error: perfkvm-hostd: internal: bad\\x1b]0;title\\x07 news\\x0a\n");
}

TEST_CASE("the start message carries the options") {
  RunOptions options;
  options.events = {"task-clock", "cycles"};
  options.interval_ms = 250;
  options.vcpus = std::vector<std::uint32_t>{1, 3};
  options.mode = protocol::StartMode::both;
  options.format.per_vcpu = true;
  const auto start = start_request(options);
  CHECK(start.events == options.events);
  CHECK(start.interval_ms == std::optional<std::uint32_t>(250));
  CHECK(start.vcpus == options.vcpus);
  CHECK(start.per_vcpu);
  CHECK(start.mode == protocol::StartMode::both);
}
