// How a request is read off a connection, apart from the socket: the parser with the server's
// limits, what its header alone refuses, and what an unreadable request is answered. One copy,
// used by the connection (http_connection.cpp) and by the request fuzzer (fuzz/), so that what
// is fuzzed is what the server does.
#pragma once

#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <optional>

#include "host-agent/http/server_options.hpp"

namespace perfkvm::host::http {

using RequestParser = boost::beast::http::request_parser<boost::beast::http::string_body>;

// A parser for one request within `limits` (header bytes, body bytes).
void apply_limits(RequestParser& parser, const ServerLimits& limits);

// After the header is read: body_limit if the request announces a body the server will not
// read — chunked (the server serves GET and HEAD and needs no body; and Boost 1.81's chunk
// parser asserts on a last chunk followed by a single byte, beast#2861), or a Content-Length
// above the limit. Then the body is never parsed. No error: read the rest.
boost::beast::error_code header_refusal(const RequestParser& parser, const ServerLimits& limits);

// What a request that could not be read is answered, if anything (the client gone: nothing).
std::optional<boost::beast::http::status> refusal_for(const boost::beast::error_code& ec);

}  // namespace perfkvm::host::http
