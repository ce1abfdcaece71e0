#include "host-agent/http/request_reading.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>

namespace perfkvm::host::http {

namespace beast_http = boost::beast::http;

void apply_limits(RequestParser& parser, const ServerLimits& limits) {
  parser.header_limit(static_cast<std::uint32_t>(
      std::min<std::size_t>(limits.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
  parser.body_limit(limits.max_body_bytes);
}

boost::beast::error_code header_refusal(const RequestParser& parser, const ServerLimits& limits) {
  if (parser.chunked() || parser.content_length().value_or(0) > limits.max_body_bytes) {
    return beast_http::error::body_limit;
  }
  return {};
}

std::optional<beast_http::status> refusal_for(const boost::beast::error_code& ec) {
  // Not the parser's: I/O (reset, closed, TLS failure, our own close).
  if (ec.category() != beast_http::make_error_code(beast_http::error::bad_method).category()) {
    return std::nullopt;
  }
  if (ec == beast_http::error::end_of_stream || ec == beast_http::error::partial_message) {
    return std::nullopt;  // the client closed, between requests or within one
  }
  if (ec == beast_http::error::header_limit || ec == beast_http::error::buffer_overflow) {
    return beast_http::status::request_header_fields_too_large;
  }
  if (ec == beast_http::error::body_limit) return beast_http::status::payload_too_large;
  return beast_http::status::bad_request;
}

}  // namespace perfkvm::host::http
