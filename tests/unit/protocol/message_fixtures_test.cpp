// Data-driven message tests, one subcase per fixture file:
//   tests/data/messages/valid/NAME.json    must parse, and survive serialize -> parse unchanged
//   tests/data/messages/invalid/NAME.json  must fail exactly as NAME.expect says:
//                                          line 1 the error code, line 2 the whole message
#include <doctest/doctest.h>

#include "protocol/codec.hpp"
#include "test_data.hpp"

using namespace perfkvm::protocol;
using perfkvm::test::chomp;
using perfkvm::test::data_dir;
using perfkvm::test::fixtures;
using perfkvm::test::read_file;

TEST_CASE("valid message fixtures") {
  for (const auto& path : fixtures(data_dir() / "messages" / "valid", ".json")) {
    SUBCASE(path.filename().c_str()) {
      const auto parsed = parse_message(read_file(path));
      if (const auto* error = std::get_if<ParseError>(&parsed)) FAIL(error->message);
      const auto& message = std::get<Message>(parsed);
      // The file name starts with the message type: "start-minimal.json" is a start.
      CHECK(path.stem().string().rfind(std::string(type_name(message)), 0) == 0);
      const auto again = parse_message(serialize_message(message));
      REQUIRE(std::holds_alternative<Message>(again));
      CHECK(std::get<Message>(again) == message);
    }
  }
}

TEST_CASE("invalid message fixtures") {
  for (const auto& path : fixtures(data_dir() / "messages" / "invalid", ".json")) {
    SUBCASE(path.filename().c_str()) {
      auto expect_path = path;
      expect_path.replace_extension(".expect");
      const std::string expected = read_file(expect_path);
      const auto newline = expected.find('\n');
      REQUIRE(newline != std::string::npos);
      const std::string expected_code = expected.substr(0, newline);
      const std::string expected_message = chomp(expected.substr(newline + 1));

      const auto parsed = parse_message(read_file(path));
      REQUIRE(std::holds_alternative<ParseError>(parsed));
      const auto& error = std::get<ParseError>(parsed);
      CHECK(to_string(error.code) == expected_code);
      CHECK(error.message == expected_message);
    }
  }
}
