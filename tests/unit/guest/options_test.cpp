// The command line, data-driven: tests/data/guest/args/accepted.json lists arguments and
// what they must parse to (only the keys given are compared), rejected.json arguments and
// the exact error message. One subcase per entry.
#include <doctest/doctest.h>

#include <boost/json.hpp>

#include "guest-agent/options.hpp"
#include "perfkvm_config.hpp"
#include "test_data.hpp"

namespace json = boost::json;
using namespace perfkvm::guest;
using perfkvm::test::data_dir;
using perfkvm::test::read_file;

namespace {

json::value optional_json(const auto& value) {
  if (!value) return nullptr;
  return json::value_from(*value);
}

json::object describe_connect(const ConnectOptions& connect) {
  json::object out;
  out["device"] = optional_json(connect.device);
  out["vsock"] = connect.vsock ? json::value(std::to_string(connect.vsock->cid) + ":" +
                                             std::to_string(connect.vsock->port))
                               : json::value(nullptr);
  out["timeout_ms"] = connect.timeout().count();
  out["verbose"] = connect.verbose;
  return out;
}

// Everything an invocation carries, as JSON, for comparison with the fixture.
json::object describe(const Invocation& invocation) {
  if (const auto* list = std::get_if<ListOptions>(&invocation)) {
    auto out = describe_connect(list->connect);
    out["kind"] = "list";
    return out;
  }
  if (const auto* ping = std::get_if<PingOptions>(&invocation)) {
    auto out = describe_connect(ping->connect);
    out["kind"] = "ping";
    out["count"] = ping->count;
    out["events"] = json::value_from(ping->events);
    out["json"] = ping->json;
    return out;
  }
  if (const auto* text = std::get_if<ShowText>(&invocation)) {
    return json::object{{"kind", "text"}, {"text", text->text}};
  }
  if (const auto* ctl = std::get_if<CtlOptions>(&invocation)) {
    static constexpr const char* kActions[] = {"enable", "disable", "mark"};
    return json::object{{"kind", "ctl"},
                        {"action", kActions[static_cast<int>(ctl->request.action)]},
                        {"phase", ctl->request.phase},
                        {"timeout_s", ctl->timeout_s}};
  }
  const auto& run = std::get<RunOptions>(invocation);
  auto out = describe_connect(run.connect);
  out["kind"] = "run";
  out["argv"] = json::value_from(run.argv);
  out["command"] = run.format.command;
  out["events"] = json::value_from(run.events);
  out["interval_ms"] = optional_json(run.interval_ms);
  out["vcpus"] = optional_json(run.vcpus);
  out["per_vcpu"] = run.format.per_vcpu;
  out["mode"] = std::string(perfkvm::protocol::to_string(run.mode));
  out["format"] = run.format.format == perfkvm::report::OutputFormat::human ? "human"
                  : run.format.format == perfkvm::report::OutputFormat::csv ? "csv"
                                                                            : "json";
  out["separator"] = run.format.separator;
  out["big_num"] = run.format.big_num;
  out["output"] = optional_json(run.output_path);
  out["pin"] = run.pin;
  out["isolate"] = run.isolate;
  out["delay_ms"] = optional_json(run.delay_ms);
  out["repeat"] = run.repeat;
  out["control"] = run.control_fifos ? json::value(run.control_fifos->control) : json::value();
  out["ack"] = run.control_fifos ? optional_json(run.control_fifos->ack) : json::value();
  return out;
}

std::vector<std::string> args_of(const json::object& entry) {
  return json::value_to<std::vector<std::string>>(entry.at("args"));
}

}  // namespace

TEST_CASE("accepted command lines") {
  const auto table = json::parse(read_file(data_dir() / "guest" / "args" / "accepted.json"));
  for (const auto& item : table.as_array()) {
    const auto& entry = item.as_object();
    SUBCASE(std::string(entry.at("name").as_string()).c_str()) {
      const auto described = describe(parse_arguments(args_of(entry)));
      for (const auto& [key, expected] : entry.at("expect").as_object()) {
        INFO("key " << key << ", parsed: " << json::serialize(described));
        REQUIRE(described.contains(key));
        CHECK(described.at(key) == expected);
      }
    }
  }
}

TEST_CASE("rejected command lines") {
  const auto table = json::parse(read_file(data_dir() / "guest" / "args" / "rejected.json"));
  for (const auto& item : table.as_array()) {
    const auto& entry = item.as_object();
    SUBCASE(std::string(entry.at("name").as_string()).c_str()) {
      std::string message = "(accepted)";
      try {
        parse_arguments(args_of(entry));
      } catch (const UsageError& error) {
        message = error.what();
      }
      CHECK(message == std::string(entry.at("error").as_string()));
    }
  }
}

TEST_CASE("--version and --help") {
  const auto version = std::get<ShowText>(parse_arguments({"--version"}));
  CHECK(version.text == std::string("perfkvm ") + PERFKVM_VERSION + " (protocol 2)\n");

  const auto help = std::get<ShowText>(parse_arguments({"--help"})).text;
  // What a newcomer must learn from it.
  CHECK(help.find("Counting covers the whole VM, per vCPU") != std::string::npos);
  CHECK(help.find("host admin to have enabled perfkvm for this VM") != std::string::npos);
  CHECK(help.find("perfkvm [OPTIONS] -p \"CMD ARGS\"") != std::string::npos);
  CHECK(help.find("perfkvm list") != std::string::npos);
  CHECK(help.find("Exit status:") != std::string::npos);
  // No line too wide for an 80-column console.
  std::size_t start = 0;
  for (auto end = help.find('\n'); end != std::string::npos; end = help.find('\n', start)) {
    CHECK_MESSAGE(end - start <= 80, help.substr(start, end - start));
    start = end + 1;
  }
  CHECK(std::get<ShowText>(parse_arguments({"list", "--help"})).text.find("perfkvm list") !=
        std::string::npos);
}

// perfkvm-host stat's older spellings, which both CLIs now accept (cli/count_options.hpp).
TEST_CASE("--events and --interval, as perfkvm-host stat spells them") {
  const auto run = std::get<RunOptions>(
      parse_arguments({"--events", "cs", "--interval", "100", "-p", "x"}));
  CHECK(run.events == std::vector<std::string>{"cs"});
  CHECK(run.interval_ms == 100u);
  CHECK(run.format.command == "x");
  const auto help = std::get<ShowText>(parse_arguments({"--help"})).text;
  CHECK(help.find("-e,--event,--events EVENTS") != std::string::npos);
  CHECK(help.find("-i,-I,--interval-print,--interval MS") != std::string::npos);
}

TEST_CASE("vsock addresses") {
  CHECK(parse_vsock_address("9999") == VsockAddress{2, 9999});
  CHECK(parse_vsock_address("3:1024") == VsockAddress{3, 1024});
  CHECK_THROWS_AS(parse_vsock_address("3:"), UsageError);
  CHECK_THROWS_AS(parse_vsock_address("-1"), UsageError);
  CHECK_THROWS_AS(parse_vsock_address("4294967296"), UsageError);
}
