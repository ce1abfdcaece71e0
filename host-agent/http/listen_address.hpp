// The metrics endpoint's listen address: "127.0.0.1:9477", "[::1]:9477", "0.0.0.0:9477",
// "[::]:9477". Numeric addresses only: a name would need DNS at startup, and what it resolves
// to could change under a running daemon.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <string>
#include <string_view>
#include <variant>

namespace perfkvm::host::http {

// The endpoint (port 0: any free port, for tests), or an error message that names the bad
// part: "metrics-listen '127.0.0.1:70000': port 70000 is out of range (0-65535)".
std::variant<boost::asio::ip::tcp::endpoint, std::string> parse_listen_address(std::string_view text);

// The inverse, for logs: "127.0.0.1:9477", "[::1]:9477".
std::string format_endpoint(const boost::asio::ip::tcp::endpoint& endpoint);

}  // namespace perfkvm::host::http
