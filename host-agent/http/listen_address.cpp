#include "host-agent/http/listen_address.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>

#include "util/printable.hpp"

namespace perfkvm::host::http {

namespace asio = boost::asio;

namespace {

std::string failure(std::string_view text, std::string_view what) {
  return "metrics-listen '" + printable(text, 200) + "': " + std::string(what);
}

bool all_digits(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The port, or what is wrong with it (the message without the "metrics-listen" prefix).
std::variant<std::uint16_t, std::string> parse_port(std::string_view port) {
  if (port.empty()) return std::string("missing port after ':'");
  if (!all_digits(port)) return "port '" + printable(port, 40) + "' is not a number";
  unsigned long value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || value > 65535) {
    return "port " + printable(port, 40) + " is out of range (0-65535)";
  }
  return static_cast<std::uint16_t>(value);
}

}  // namespace

std::variant<asio::ip::tcp::endpoint, std::string> parse_listen_address(std::string_view text) {
  if (text.empty()) {
    return failure(text, "empty: expected ADDRESS:PORT, e.g. 127.0.0.1:9477 or [::1]:9477");
  }
  const bool bracketed = text.front() == '[';
  std::string_view host;
  std::string_view port;
  if (bracketed) {
    const auto close = text.find(']');
    if (close == std::string_view::npos) {
      return failure(text, "'[' without ']': an IPv6 address is written [::1]:9477");
    }
    host = text.substr(1, close - 1);
    const auto rest = text.substr(close + 1);
    if (rest.empty()) return failure(text, "missing port: expected [ADDRESS]:PORT");
    if (rest.front() != ':') return failure(text, "expected ':' and a port after ']'");
    port = rest.substr(1);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return failure(text, "missing port: expected ADDRESS:PORT");
    host = text.substr(0, colon);
    if (host.find(':') != std::string_view::npos) {
      return failure(text, "an IPv6 address goes in brackets, e.g. [::1]:9477");
    }
    port = text.substr(colon + 1);
  }
  if (host.empty()) {
    return failure(text, "missing address (0.0.0.0 or [::] listen on every interface)");
  }

  const auto parsed_port = parse_port(port);
  if (const auto* error = std::get_if<std::string>(&parsed_port)) return failure(text, *error);

  boost::system::error_code ec;
  const std::string host_text(host);
  asio::ip::address address;
  if (bracketed) {
    address = asio::ip::make_address_v6(host_text, ec);
    if (ec) {
      return failure(text, "'" + printable(host, 80) + "' is not a numeric IPv6 address");
    }
  } else {
    address = asio::ip::make_address_v4(host_text, ec);
    if (ec) {
      return failure(text, "'" + printable(host, 80) +
                               "' is not a numeric IPv4 address (names are not resolved)");
    }
  }
  return asio::ip::tcp::endpoint(address, std::get<std::uint16_t>(parsed_port));
}

std::string format_endpoint(const asio::ip::tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return host + ":" + std::to_string(endpoint.port());
}

}  // namespace perfkvm::host::http
