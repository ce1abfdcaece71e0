// Message round trips and the rules every payload is held to.
#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <set>
#include <string>
#include <vector>

#include "protocol/codec.hpp"

using namespace perfkvm::protocol;

namespace {

const std::string kNonce = "5f2b9c0e7d41a683";

std::vector<Message> one_of_each() {
  const std::vector<Column> columns = {
      {"task-clock", Scope::all, ColumnStatus::counted, ""},
      {"cpu-cycles", Scope::guest, ColumnStatus::not_supported, "no PMU on this host (ENOENT)"},
      {"cpu-cycles", Scope::host, ColumnStatus::not_supported, "no PMU on this host (ENOENT)"},
  };
  const std::vector<Cell> totals = {Count{2'000'000'000, 2'000'000'000, 1'500'000'000},
                                    std::nullopt, std::nullopt};
  const std::vector<VcpuCounts> vcpus = {
      {0, VcpuStatus::running, {Count{10, 20, 20}, std::nullopt, std::nullopt}},
      {1, VcpuStatus::ended, {Count{18446744073709551615ull, 5, 5}, std::nullopt, std::nullopt}},
  };
  return {
      Hello{kNonce, 1, 3, "perfkvm", "0.1.0"},
      Welcome{kNonce, 1, "perfkvm-hostd", "0.1.0", "guest1",
              "c7a5fdbd-edaf-9455-926a-d65c16db1809", 2,
              {{"cpu-cycles", EventKind::hardware, Availability::not_supported, "ENOENT"},
               {"task-clock", EventKind::software, Availability::supported, ""}},
              Limits{10, 16, 2, 65536, 5000}},
      Start{kNonce, 42, {"task-clock", "cycles"}, 200, std::vector<std::uint32_t>{1, 0}, true,
            StartMode::both},
      Start{kNonce, 43, {"task-clock"}, std::nullopt, std::nullopt, false, StartMode::all},
      Started{kNonce, 42, columns, {0, 1}, 200},
      Sample{kNonce, 42, 3, 600'000'000, 1'764'000'000'000'000'000ull, totals, vcpus, std::nullopt},
      Sample{kNonce, 42, 4, 800'000'000, 1'764'000'000'200'000'000ull, totals, {}, std::nullopt},
      Sample{kNonce, 42, 4, 900'000'000, 1'764'000'000'300'000'000ull, totals, vcpus, 7},
      Stop{kNonce, 42},
      Read{kNonce, 42, 7},
      Report{kNonce, 42, EndReason::stopped, 2'000'000'000, 10, 1, columns, totals, vcpus},
      Keepalive{kNonce},
      ListEvents{kNonce},
      Events{kNonce, {{"dummy", EventKind::software, Availability::supported, ""}}},
      Error{kNonce, 42, ErrorCode::interval_too_short, "interval 5 ms is below the minimum of 10 ms", std::nullopt},
      Error{kNonce, 42, ErrorCode::not_permitted, "domain 'web': policy rule 'events' ...", std::nullopt},
      Error{"", std::nullopt, ErrorCode::invalid_json, "payload is not valid JSON", std::nullopt},
      Error{kNonce, 43, ErrorCode::rate_limited, "retry in 50 ms", 50},
  };
}

const ParseError* error_of(const ParseResult& result) { return std::get_if<ParseError>(&result); }

}  // namespace

TEST_CASE("every message type survives serialize -> parse unchanged") {
  std::set<std::string_view> types;
  for (const auto& message : one_of_each()) {
    CAPTURE(serialize_message(message));
    const auto parsed = parse_message(serialize_message(message));
    REQUIRE(std::holds_alternative<Message>(parsed));
    CHECK(std::get<Message>(parsed) == message);
    types.insert(type_name(message));
  }
  CHECK(types.size() == std::variant_size_v<Message>);
}

TEST_CASE("every message type survives a whole frame: encode -> decode -> parse") {
  FrameDecoder decoder;
  for (const auto& message : one_of_each()) {
    const std::string frame = encode_message(message);
    std::string_view input = frame;
    const auto payload = decoder.next(input);
    REQUIRE(payload);
    const auto parsed = parse_message(*payload);
    REQUIRE(std::holds_alternative<Message>(parsed));
    CHECK(std::get<Message>(parsed) == message);
  }
}

TEST_CASE("serialized messages carry their type and nonce") {
  const auto json = boost::json::parse(serialize_message(Stop{kNonce, 9}));
  CHECK(json.at("type").as_string() == "stop");
  CHECK(json.at("nonce").as_string() == kNonce.c_str());
  CHECK(json.at("request_id").to_number<int>() == 9);
}

TEST_CASE("an unknown message type is an error value addressed to its sender") {
  const auto result = parse_message(R"({"type":"reboot","nonce":"00112233aabbccdd","request_id":5})");
  const auto* error = error_of(result);
  REQUIRE(error);
  CHECK(error->code == ErrorCode::unknown_type);
  CHECK(error->message == "unknown message type \"reboot\"");
  CHECK(error->nonce == "00112233aabbccdd");
  CHECK(error->request_id == 5u);
  CHECK(error->type == "reboot");
  const Error reply = error_reply(*error);
  CHECK(reply.code == ErrorCode::unknown_type);
  CHECK(reply.nonce == "00112233aabbccdd");
  CHECK(reply.request_id == 5u);
}

TEST_CASE("an invalid nonce is never echoed back in an error reply") {
  const auto result = parse_message(R"({"type":"reboot","nonce":"NOT-HEX"})");
  REQUIRE(error_of(result));
  CHECK(error_of(result)->nonce.empty());
}

TEST_CASE("nonce mismatch: frames of another session are recognised as stale") {
  const Message mine = Sample{kNonce, 1, 1, 0, 0, {}, {}, std::nullopt};
  const Message stale = Sample{"00000000deadbeef", 1, 1, 0, 0, {}, {}, std::nullopt};
  CHECK(belongs_to_session(mine, kNonce));
  CHECK_FALSE(belongs_to_session(stale, kNonce));
  CHECK_FALSE(belongs_to_session(Error{"", {}, ErrorCode::internal, "x", std::nullopt}, ""));
}

TEST_CASE("nesting deeper than the limit is invalid JSON, not a stack overflow") {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const auto result = parse_message(deep);
  const auto* error = error_of(result);
  REQUIRE(error);
  CHECK(error->code == ErrorCode::invalid_json);
}

TEST_CASE("nonce validity") {
  CHECK(is_valid_nonce("0123456789abcdef"));
  CHECK(is_valid_nonce("01234567"));
  CHECK_FALSE(is_valid_nonce("0123456"));
  CHECK_FALSE(is_valid_nonce("0123456789ABCDEF"));
  CHECK_FALSE(is_valid_nonce(std::string(65, 'a')));
  CHECK(is_valid_nonce(std::string(64, 'a')));
}

TEST_CASE("string tables round trip every enum value") {
  for (const auto& [code, name] : EnumStrings<ErrorCode>::table) {
    CHECK(to_string(code) == name);
    CHECK(enum_from_string<ErrorCode>(name) == code);
  }
  CHECK_FALSE(enum_from_string<StartMode>("everything"));
  CHECK(enum_choices<Scope>() == R"("all", "guest" or "host")");
}

TEST_CASE("a malformed error message is recognisable as an error, so nobody answers it") {
  const auto result = parse_message(R"({"type":"error","nonce":"00112233aabbccdd","code":7})");
  REQUIRE(error_of(result));
  CHECK(error_of(result)->type == "error");
  CHECK(error_of(result)->message ==
        R"(error.code: expected one of "invalid-json", "invalid-message", "unknown-type", )"
        R"("unsupported-version", "no-session", "busy", "unknown-event", "too-many-events", )"
        R"("interval-too-short", "invalid-vcpu", "unknown-request", "too-many-sessions", )"
        R"("domain-unavailable", "unknown-peer", "lease-expired", "session-replaced", )"
        R"("not-permitted", "rate-limited" or "internal", got number 7)");
}

TEST_CASE("codes and event statuses a later host may add are still understood (PROTOCOL.md §7)") {
  const auto error = parse_message(
      R"({"type":"error","nonce":"00112233aabbccdd","code":"over-quota","message":"try later"})");
  REQUIRE(std::holds_alternative<Message>(error));
  const auto& read = std::get<Error>(std::get<Message>(error));
  CHECK(read.code == ErrorCode::internal);
  CHECK(read.message == "[over-quota] try later");
  // A known code keeps its message as sent.
  const auto known = parse_message(
      R"({"type":"error","nonce":"00112233aabbccdd","code":"internal","message":"x"})");
  CHECK(std::get<Error>(std::get<Message>(known)).message == "x");

  const auto events = parse_message(
      R"({"type":"events","nonce":"00112233aabbccdd","events":[)"
      R"({"name":"task-clock","kind":"software","status":"quarantined","reason":"r"}]})");
  REQUIRE(std::holds_alternative<Message>(events));
  const auto& statuses = std::get<Events>(std::get<Message>(events)).events;
  REQUIRE(statuses.size() == 1);
  CHECK(statuses[0].status == Availability::not_supported);
  CHECK(statuses[0].reason == "r");
  // A status that is not a string is still malformed.
  CHECK(error_of(parse_message(
      R"({"type":"events","nonce":"00112233aabbccdd","events":[)"
      R"({"name":"task-clock","kind":"software","status":3}]})")));
}
