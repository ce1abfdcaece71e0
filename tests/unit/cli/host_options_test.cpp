// perfkvm-host's command line, and what it shares with perfkvm's: the global options on either
// side of the subcommand, stat's options spelt and refused as perfkvm spells and refuses them,
// help within 80 columns for every subcommand.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "guest-agent/options.hpp"
#include "host-agent/admin/host_options.hpp"
#include "perfkvm_config.hpp"

using namespace perfkvm;
using namespace perfkvm::host;
using Args = std::vector<std::string>;

namespace {

HostCommandLine parse_line(const Args& args) {
  return std::get<HostCommandLine>(parse_host_arguments(args));
}

std::string host_error(const Args& args) {
  try {
    parse_host_arguments(args);
  } catch (const cli::UsageError& error) {
    return error.what();
  }
  return "(accepted)";
}

std::string guest_error(const Args& args) {
  try {
    guest::parse_arguments(args);
  } catch (const cli::UsageError& error) {
    return error.what();
  }
  return "(accepted)";
}

Args concat(Args head, const Args& tail) {
  head.insert(head.end(), tail.begin(), tail.end());
  return head;
}

std::string help_of(const Args& args) {
  return std::get<cli::ShowText>(parse_host_arguments(concat(args, {"--help"}))).text;
}

}  // namespace

TEST_CASE("perfkvm-host: -c/--connect and --channel-name before or after the subcommand") {
  const Args globals{"-c", "test:///default", "--channel-name", "org.example.1"};
  for (const auto& command : {Args{"list"}, Args{"stat", "web1"}, Args{"xml", "show", "web1"}}) {
    CAPTURE(command);
    for (const auto& args : {concat(globals, command), concat(command, globals)}) {
      CAPTURE(args);
      const auto line = parse_line(args);
      CHECK(line.uri == "test:///default");
      CHECK(line.channel_name == "org.example.1");
    }
  }
  // Between the subcommand's own words, and spelt long.
  const auto line = parse_line({"stat", "--connect=qemu:///session", "web1", "-e", "cs"});
  CHECK(line.uri == "qemu:///session");
  CHECK(std::get<StatOptions>(line.command).domain == "web1");

  const auto defaults = parse_line({"list"});
  CHECK(defaults.uri == "qemu:///system");
  CHECK(defaults.channel_name == "org.perfkvm.0");
}

TEST_CASE("perfkvm-host list, stat, xml: what each carries") {
  CHECK_FALSE(std::get<ListCommand>(parse_line({"list"}).command).json);
  CHECK(std::get<ListCommand>(parse_line({"list", "--json"}).command).json);

  const auto stat = std::get<StatOptions>(
      parse_line({"stat", "web1", "--events", "cs", "--interval", "100", "--vcpu", "0-1",
                  "--no-aggr", "--mode", "all", "-x", ";", "-o", "counts.csv", "--duration", "2.5"})
          .command);
  CHECK(stat.domain == "web1");
  CHECK(stat.events == std::vector<std::string>{"cs"});
  CHECK(stat.interval_ms == 100u);
  CHECK(stat.vcpus == std::vector<std::uint32_t>{0, 1});
  CHECK(stat.format.per_vcpu);
  CHECK(stat.mode == protocol::StartMode::both);
  CHECK(stat.format.format == report::OutputFormat::csv);
  CHECK(stat.format.separator == ";");
  CHECK(stat.output_path == "counts.csv");
  CHECK(stat.duration_s == 2.5);
  const auto plain = std::get<StatOptions>(parse_line({"stat", "web1"}).command);
  CHECK(plain.events.size() == 8);
  CHECK_FALSE(plain.duration_s);
  CHECK_FALSE(plain.output_path);
  // -e takes one value, so DOMAIN may follow it.
  CHECK(std::get<StatOptions>(parse_line({"stat", "-e", "cs", "web1"}).command).domain == "web1");

  const auto enable = std::get<XmlCommand>(
      parse_line({"--channel-name", "org.example.1", "xml", "enable", "web1", "--vsock", "--live"})
          .command);
  CHECK(enable.action == XmlCommand::Action::enable);
  CHECK(enable.domain == "web1");
  CHECK(enable.device == PerfkvmDevice::vsock);
  CHECK(enable.live);
  CHECK_FALSE(enable.config);
  CHECK(enable.channel_name == "org.example.1");
  CHECK(std::get<XmlCommand>(parse_line({"xml", "disable", "web1"}).command).action ==
        XmlCommand::Action::disable);
  CHECK(std::get<XmlCommand>(parse_line({"xml", "show", "web1"}).command).action ==
        XmlCommand::Action::show);
}

TEST_CASE("perfkvm-host stat refuses what perfkvm refuses, in the same words") {
  for (const auto& options : {
           Args{"-x", ""},
           Args{"-x", ",", "-j"},
           Args{"--vcpu", "3-1"},
           Args{"--vcpu", "0,one"},
           Args{"--mode", "guests"},
           Args{"-e", "task-clock,cyles"},
           Args{"-e", " , "},
           Args{"-i", "0"},
           Args{"--interval", "fast"},
       }) {
    CAPTURE(options);
    const auto message = host_error(concat({"stat", "web1"}, options));
    CHECK(message != "(accepted)");
    CHECK(message == guest_error(concat(options, {"-p", "x"})));
  }
}

TEST_CASE("perfkvm-host: usage errors") {
  struct Bad {
    Args args;
    const char* message;
  };
  for (const auto& bad : {
           Bad{{}, "A subcommand is required"},
           Bad{{"stat"}, "domain is required"},
           Bad{{"list", "--bogus"}, "The following argument was not expected: --bogus"},
           Bad{{"list", "stat"}, "The following argument was not expected: stat"},
           Bad{{"list", "--vcpu", "0"}, "The following arguments were not expected: 0 --vcpu"},
           Bad{{"stat", "web1", "--cpu", "1"},
               "The following arguments were not expected: 1 --cpu"},
           Bad{{"xml", "enable", "web1", "--channel", "--vsock"}, "--channel excludes --vsock"},
           Bad{{"xml"}, "A subcommand is required"},
       }) {
    CAPTURE(bad.args);
    CHECK(host_error(bad.args) == bad.message);
  }
  CHECK(host_error({"stat", "web1", "--duration", "0"})
            .rfind("--duration: Value 0 not in range", 0) == 0);
}

TEST_CASE("perfkvm-host: --version, and --help of every subcommand within 80 columns") {
  CHECK(std::get<cli::ShowText>(parse_host_arguments({"--version"})).text ==
        std::string("perfkvm-host ") + PERFKVM_VERSION + "\n");
  CHECK(std::get<cli::ShowText>(parse_host_arguments({"list", "--version"})).text ==
        std::string("perfkvm-host ") + PERFKVM_VERSION + "\n");

  struct Help {
    Args command;
    const char* usage;
  };
  for (const auto& help : {
           Help{{}, "Usage: perfkvm-host [OPTIONS] SUBCOMMAND"},
           Help{{"list"}, "Usage: perfkvm-host list [OPTIONS]"},
           Help{{"stat"}, "Usage: perfkvm-host stat [OPTIONS] domain"},
           Help{{"xml"}, "Usage: perfkvm-host xml [OPTIONS] SUBCOMMAND"},
           Help{{"xml", "enable"}, "Usage: perfkvm-host xml enable [OPTIONS] domain"},
           Help{{"xml", "disable"}, "Usage: perfkvm-host xml disable [OPTIONS] domain"},
           Help{{"xml", "show"}, "Usage: perfkvm-host xml show [OPTIONS] domain"},
       }) {
    CAPTURE(help.command);
    const auto text = help_of(help.command);
    CHECK(text.find(help.usage) != std::string::npos);
    // Each one says the global options may follow the subcommand.
    CHECK(text.find("may come before or after the\nsubcommand") != std::string::npos);
    std::size_t start = 0;
    for (auto end = text.find('\n'); end != std::string::npos; end = text.find('\n', start)) {
      CHECK_MESSAGE(end - start <= 80, text.substr(start, end - start));
      start = end + 1;
    }
  }
  const auto stat = help_of({"stat"});
  CHECK(stat.find("-e,--event,--events EVENTS") != std::string::npos);
  CHECK(stat.find("-A,--per-vcpu,--no-aggr") != std::string::npos);
  CHECK(stat.find("instead of stdout") != std::string::npos);
}
