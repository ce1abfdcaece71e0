// The counting and output options both CLIs share, on a bare CLI11 app: every spelling, the
// defaults, and the rules that need more than one option.
#include <doctest/doctest.h>

#include <CLI/CLI.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/count_options.hpp"
#include "cli/usage.hpp"

using namespace perfkvm::cli;
using perfkvm::protocol::StartMode;
using perfkvm::report::OutputFormat;

namespace {

CountOptionsHelp help(bool offer_cpu) {
  return {.count_group = "Count",
          .output_group = "Output",
          .event_names_from = "perfkvm list",
          .report_stream = "stderr",
          .offer_cpu = offer_cpu};
}

// Parses as a CLI does: CLI11's errors and finish()'s alike become the message.
CountOptions parse(const std::vector<std::string>& args, bool offer_cpu = true) {
  CLI::App app{"test", "test"};
  const CountOptionSet options(app, help(offer_cpu));
  std::vector<const char*> argv{"test"};
  for (const auto& arg : args) argv.push_back(arg.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& error) {
    throw UsageError(error.what());
  }
  return options.finish();
}

std::string error_of(const std::vector<std::string>& args, bool offer_cpu = true) {
  try {
    parse(args, offer_cpu);
  } catch (const UsageError& error) {
    return error.what();
  }
  return "(accepted)";
}

}  // namespace

TEST_CASE("count options: nothing given is perf stat's defaults, one column, human output") {
  const auto options = parse({});
  CHECK(options.events == std::vector<std::string>{"task-clock", "context-switches",
                                                   "cpu-migrations", "page-faults", "cycles",
                                                   "instructions", "branches", "branch-misses"});
  CHECK_FALSE(options.interval_ms);
  CHECK_FALSE(options.vcpus);
  CHECK(options.mode == StartMode::all);
  CHECK(options.format.format == OutputFormat::human);
  CHECK_FALSE(options.format.per_vcpu);
  CHECK_FALSE(options.output_path);
}

TEST_CASE("count options: every spelling of each option") {
  for (const auto* spelling : {"-e", "--event", "--events"}) {
    CAPTURE(spelling);
    CHECK(parse({spelling, "cs,cycles", spelling, "faults"}).events ==
          std::vector<std::string>{"cs", "cycles", "faults"});
  }
  for (const auto* spelling : {"-i", "-I", "--interval-print", "--interval"}) {
    CAPTURE(spelling);
    CHECK(parse({spelling, "250"}).interval_ms == 250u);
  }
  for (const auto* spelling : {"-A", "--per-vcpu", "--no-aggr"}) {
    CAPTURE(spelling);
    CHECK(parse({spelling}).format.per_vcpu);
  }
  for (const auto& args :
       {std::vector<std::string>{"-x", ";"}, {"-x;"}, {"--field-separator", ";"}}) {
    CAPTURE(args.front());
    const auto options = parse(args);
    CHECK(options.format.format == OutputFormat::csv);
    CHECK(options.format.separator == ";");
  }
  for (const auto* spelling : {"-j", "--json"}) {
    CAPTURE(spelling);
    CHECK(parse({spelling}).format.format == OutputFormat::json);
  }
  for (const auto* spelling : {"-o", "--output"}) {
    CAPTURE(spelling);
    CHECK(parse({spelling, "counts.txt"}).output_path == "counts.txt");
  }
  CHECK(parse({"--vcpu", "3,0-1"}).vcpus == std::vector<std::uint32_t>{0, 1, 3});
  CHECK(parse({"--cpu", "3"}).vcpus == std::vector<std::uint32_t>{2});
  CHECK_FALSE(parse({"--cpu", "0"}).vcpus);
  // -e takes one value: what follows is the command (perfkvm) or the domain (perfkvm-host).
  CHECK_THROWS_WITH_AS(parse({"-e", "cs", "ls"}), "The following argument was not expected: ls",
                       UsageError);
}

TEST_CASE("count options: --mode guest, host, both (all is the same); none: one column") {
  CHECK(parse({"--mode", "guest"}).mode == StartMode::guest);
  CHECK(parse({"--mode=host"}).mode == StartMode::host);
  CHECK(parse({"--mode", "both"}).mode == StartMode::both);
  CHECK(parse({"--mode", "all"}).mode == StartMode::both);
  CHECK(parse_mode("") == StartMode::all);
  CHECK(parse_mode("both") == StartMode::both);
  // The parser's words and the option check's are one rule.
  CHECK_THROWS_WITH_AS(parse_mode("kernel"), "--mode: kernel not in {guest,host,all,both}",
                       std::invalid_argument);
  CHECK(error_of({"--mode", "kernel"}) == "--mode: kernel not in {guest,host,all,both}");
}

TEST_CASE("count options: the errors, each worded once") {
  struct Bad {
    std::vector<std::string> args;
    const char* message;
  };
  for (const auto& bad : {
           Bad{{"-x", ""}, "-x needs a separator, e.g. -x ,"},
           Bad{{"--field-separator", ""}, "-x needs a separator, e.g. -x ,"},
           Bad{{"-x", ",", "-j"}, "-x and --json: choose one output format"},
           Bad{{"--json", "-x", ";"}, "-x and --json: choose one output format"},
           Bad{{"-B", "-x", ","}, "-B and -x: CSV output is never grouped (as perf's)"},
           Bad{{"--big-num", "--no-big-num"}, "-B and --no-big-num: choose one"},
           Bad{{"--vcpu", "3-1"}, "invalid vCPU list '3-1': range '3-1' runs backwards"},
           Bad{{"--vcpu", ""}, "(accepted)"},  // as before: an empty --vcpu is every vCPU
           Bad{{"--vcpu", ","}, "empty vCPU list"},
           Bad{{"--cpu", "1", "--vcpu", "0"}, "--cpu excludes --vcpu"},
           Bad{{"--cpu", "4097"}, "--cpu: Value 4097 not in range 0 to 4096"},
           Bad{{"-e", " , "}, "no events given"},
           Bad{{"-e"}, "--event: 1 required EVENTS missing"},
           // Whatever spelling was used, the error names the option by its long name.
           Bad{{"--interval", "0"}, "--interval-print: Value 0 not in range 1 to 3600000"},
           Bad{{"-I", "fast"}, "--interval-print: Value fast not in range 1 to 3600000"},
       }) {
    CAPTURE(bad.args);
    CHECK(error_of(bad.args) == bad.message);
  }
}

TEST_CASE("count options: -B is perf's default, --no-big-num turns it off, -B -j is accepted") {
  CHECK(parse({}).format.big_num);
  CHECK(parse({"-B"}).format.big_num);
  CHECK(parse({"-B", "-j"}).format.big_num);
  CHECK_FALSE(parse({"--no-big-num"}).format.big_num);
  CHECK_FALSE(parse({"--no-big-num", "-x", ","}).format.big_num);
}

TEST_CASE("count options: --cpu only where offered (perfkvm, not perfkvm-host stat)") {
  CHECK(error_of({"--cpu", "1"}, false) == "The following arguments were not expected: 1 --cpu");
  CHECK(parse({"--vcpu", "1"}, false).vcpus == std::vector<std::uint32_t>{1});
}

TEST_CASE("count options: help, in the CLI's sections, with its stream, within 80 columns") {
  CLI::App app{"test", "test"};
  const CountOptionSet options(app, help(true));
  const auto text = app.help();
  CHECK(text.find("Count:\n  -e,--event,--events EVENTS") != std::string::npos);
  CHECK(text.find("(default: perf stat's; see perfkvm list)") != std::string::npos);
  CHECK(text.find("instead of stderr") != std::string::npos);
  CHECK(text.find("Output:\n  -i,-I,--interval-print,--interval MS") != std::string::npos);
  std::size_t start = 0;
  for (auto end = text.find('\n'); end != std::string::npos; end = text.find('\n', start)) {
    CHECK_MESSAGE(end - start <= 80, text.substr(start, end - start));
    start = end + 1;
  }

  CLI::App host{"test", "test"};
  const CountOptionSet host_options(host, {.count_group = "Count",
                                           .output_group = "Output",
                                           .event_names_from = "",
                                           .report_stream = "stdout",
                                           .offer_cpu = false});
  const auto host_text = host.help();
  CHECK(host_text.find("(default: perf stat's)") != std::string::npos);
  CHECK(host_text.find("instead of stdout") != std::string::npos);
  CHECK(host_text.find("--cpu") == std::string::npos);
}

TEST_CASE("usage errors: the program, the message, where to look") {
  CHECK(usage_error_text("perfkvm-host", "no events given") ==
        "perfkvm-host: error: no events given\nRun 'perfkvm-host --help' for the options.\n");
  CHECK(kUsageExitStatus == 129);
}
