// parse_listen_address: numeric IPv4 and bracketed IPv6 with a port; every mistake named.
#include <doctest/doctest.h>

#include "host-agent/http/listen_address.hpp"

using perfkvm::host::http::format_endpoint;
using perfkvm::host::http::parse_listen_address;
using boost::asio::ip::tcp;

namespace {

tcp::endpoint parsed(std::string_view text) {
  const auto result = parse_listen_address(text);
  if (const auto* error = std::get_if<std::string>(&result)) FAIL(*error);
  return std::get<tcp::endpoint>(result);
}

std::string error_of(std::string_view text) {
  const auto result = parse_listen_address(text);
  if (std::holds_alternative<tcp::endpoint>(result)) {
    FAIL("'" << text << "' was accepted as " << format_endpoint(std::get<tcp::endpoint>(result)));
  }
  return std::get<std::string>(result);
}

}  // namespace

TEST_CASE("listen address: numeric IPv4 and [IPv6] with a port, port 0 included") {
  const auto v4 = parsed("127.0.0.1:9477");
  CHECK(v4.address() == boost::asio::ip::make_address("127.0.0.1"));
  CHECK(v4.port() == 9477);
  const auto v6 = parsed("[::1]:9477");
  CHECK(v6.address() == boost::asio::ip::make_address("::1"));
  CHECK(v6.port() == 9477);
  CHECK(parsed("0.0.0.0:9477").address().is_unspecified());
  CHECK(parsed("0.0.0.0:9477").address().is_v4());
  CHECK(parsed("[::]:9477").address().is_unspecified());
  CHECK(parsed("[::]:9477").address().is_v6());
  CHECK(parsed("127.0.0.1:0").port() == 0);
  CHECK(parsed("10.1.2.3:65535").port() == 65535);
  CHECK(parsed("[fd00::2]:80").address() == boost::asio::ip::make_address("fd00::2"));
  CHECK(format_endpoint(v4) == "127.0.0.1:9477");
  CHECK(format_endpoint(v6) == "[::1]:9477");
}

TEST_CASE("listen address: each mistake is refused with a message naming the bad part") {
  const auto is = [](std::string_view text, std::string_view part) {
    const std::string error = error_of(text);
    INFO("input: '" << text << "' error: " << error);
    CHECK(error.rfind("metrics-listen '" + std::string(text) + "': ", 0) == 0);
    CHECK(error.find(part) != std::string::npos);
  };
  is("127.0.0.1", "missing port");
  is("127.0.0.1:", "missing port");
  is("[::1]", "missing port");
  is("[::1]:", "missing port");
  is("127.0.0.1:70000", "port 70000 is out of range");
  is("127.0.0.1:99999999999999999999", "out of range");
  is("127.0.0.1:94a7", "port '94a7' is not a number");
  is("127.0.0.1:-1", "port '-1' is not a number");
  is("localhost:9477", "'localhost' is not a numeric IPv4 address (names are not resolved)");
  is("metrics.example.com:9477", "'metrics.example.com' is not a numeric IPv4 address");
  is("256.1.1.1:9477", "'256.1.1.1' is not a numeric IPv4 address");
  is("[localhost]:9477", "'localhost' is not a numeric IPv6 address");
  is("[127.0.0.1]:9477", "'127.0.0.1' is not a numeric IPv6 address");
  is("::1:9477", "an IPv6 address goes in brackets");
  is("[::1:9477", "'[' without ']'");
  is("[::1]9477", "expected ':' and a port after ']'");
  is(":9477", "missing address");
  is("[]:9477", "missing address");
  is(" 127.0.0.1:9477", "is not a numeric IPv4 address");
  CHECK(error_of("") == "metrics-listen '': empty: expected ADDRESS:PORT, e.g. 127.0.0.1:9477 or [::1]:9477");
}
