// libFuzzer target: the bytes a client sends the metrics endpoint, through what they reach in
// perfkvm-hostd without a socket. host-agent/http/http_connection.cpp serves a connection in
// a coroutine bound to a TCP (or TLS) stream, so its reading is mirrored here over Beast's
// test stream: the same Beast request_parser with the same limits and refusals
// (ServerLimits' defaults: 8 KiB of header, no body), read by http::read (the synchronous
// twin of its async_read) into one flat_buffer kept across requests (pipelining), request
// after request while the client keeps the connection alive. Each request then goes to the
// real router (host-agent/http/router.hpp: answer(), route selection, 404/405, gzip
// negotiation with accepts_gzip and gzip_compress), with routes
// shaped as export_routes' (host-agent/export/export_routes.cpp: GET /metrics picks its
// format by metrics::negotiate_format on Accept; GET / is a page), but with a fixed body
// instead of a scrape of the fleet. The reading rules are the connection's own
// (host-agent/http/request_reading.hpp: limits, header refusals, the 400/413/431 mapping); not
// reached: the connection's timeouts and TLS, which need a socket.
// Checks, beyond "no crash, no leak, no exception":
//   - the status is 404 exactly when the path (target up to '?') is no route, 405 (with
//     "Allow: GET, HEAD") when the method is neither GET nor HEAD, else 200; never 500;
//   - HTTP/1.0 is answered in 1.0, anything else in 1.1; Content-Length is the body's size;
//   - a 200 is gzip-encoded exactly when accepts_gzip says the Accept-Encoding headers (all
//     of them, joined) take gzip, and then inflates to the route's body; its Content-Type is
//     the route's, for /metrics the one negotiate_format picks from the Accept headers;
//   - negotiate_format picks OpenMetrics only if an Accept header names it; accepts_gzip
//     says yes only if an Accept-Encoding names gzip or "*";
//   - every response serializes (the whole message, or its header for HEAD).
// Input: byte 0 picks how many bytes each read returns (a client dribbling, or sending all at
// once); the rest is what the client sends (seeds: fuzz/make_seed_corpus.py).
#define ZLIB_CONST
#include <zlib.h>

#include <boost/asio/io_context.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/beast/http/write.hpp>
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include "host-agent/http/gzip.hpp"
#include "host-agent/http/request_reading.hpp"
#include "host-agent/http/router.hpp"
#include "host-agent/http/server_options.hpp"
#include "host-agent/metrics/exposition_format.hpp"

namespace beast = boost::beast;
namespace beast_http = boost::beast::http;
using namespace perfkvm::host;

namespace {

constexpr std::size_t kReadSizes[] = {1, 2, 3, 7, 64, 512, 4096, 65536};
// A whole request can be a few bytes: a bound on the requests one input holds keeps an
// input's run short.
constexpr int kMaxRequests = 64;

constexpr std::string_view kIndexBody = "<!DOCTYPE html>\n<html><body>perfkvm-hostd</body></html>\n";

void check(bool condition) {
  if (!condition) std::abort();
}

std::string_view view(beast::string_view text) { return {text.data(), text.size()}; }

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Every value of the field, joined by ", ", as router.cpp joins them.
std::string joined(const http::BeastRequest& request, beast_http::field field) {
  std::string values;
  for (auto [it, end] = request.equal_range(field); it != end; ++it) {
    if (!values.empty()) values += ", ";
    values += view(it->value());
  }
  return values;
}

std::string metrics_body(metrics::Format format) {
  std::string body =
      "# HELP perfkvm_hostd_up Whether perfkvm-hostd is up.\n"
      "# TYPE perfkvm_hostd_up gauge\n"
      "perfkvm_hostd_up 1\n"
      "# HELP perfkvm_vcpu_instructions Instructions retired on a vCPU.\n"
      "# TYPE perfkvm_vcpu_instructions counter\n";
  for (int vcpu = 0; vcpu < 8; ++vcpu) {
    body += "perfkvm_vcpu_instructions_total{domain=\"web1\",vcpu=\"" + std::to_string(vcpu) +
            "\"} " + std::to_string(123456789 * (vcpu + 1)) + "\n";
  }
  if (format == metrics::Format::openmetrics) body += "# EOF\n";
  return body;
}

std::map<std::string, http::Route> routes() {
  std::map<std::string, http::Route> table;
  table["/metrics"] = [](const http::Request& request) {
    const auto format = metrics::negotiate_format(request.accept);
    return http::Response{std::string(metrics::content_type(format)), metrics_body(format)};
  };
  table["/"] = [](const http::Request&) {
    return http::Response{"text/html; charset=utf-8", std::string(kIndexBody)};
  };
  return table;
}

std::optional<std::string> gunzip(const std::string& data) {
  z_stream stream{};
  if (inflateInit2(&stream, 15 + 16) != Z_OK) std::abort();
  stream.next_in = reinterpret_cast<const Bytef*>(data.data());
  stream.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char chunk[4096];
  int status = Z_OK;
  while (status == Z_OK) {
    stream.next_out = reinterpret_cast<Bytef*>(chunk);
    stream.avail_out = sizeof chunk;
    status = inflate(&stream, Z_NO_FLUSH);
    out.append(chunk, sizeof chunk - stream.avail_out);
  }
  const bool whole = status == Z_STREAM_END && stream.avail_in == 0;
  inflateEnd(&stream);
  if (!whole) return std::nullopt;
  return out;
}

void check_serializes(const http::BeastResponse& response, bool head) {
  std::ostringstream out;
  if (head) {
    out << response.base();
  } else {
    out << response;
  }
  const std::string text = out.str();
  check(text.starts_with(response.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 "));
  if (!head) check(text.ends_with(response.body()));
}

void check_answer(const http::BeastRequest& request, const http::Answer& answer,
                  const std::map<std::string, http::Route>& table) {
  const auto& response = answer.response;
  check(!answer.route_failed);
  check(response.version() == (request.version() == 10 ? 10u : 11u));
  check(view(response[beast_http::field::server]) == "perfkvm-hostd");
  check(view(response[beast_http::field::content_length]) == std::to_string(response.body().size()));

  const std::string_view target = view(request.target());
  const std::string path(target.substr(0, target.find('?')));
  const auto method = request.method();
  const unsigned status = response.result_int();
  if (!table.contains(path)) {
    check(status == 404);
    return;
  }
  if (method != beast_http::verb::get && method != beast_http::verb::head) {
    check(status == 405 && view(response[beast_http::field::allow]) == "GET, HEAD");
    return;
  }
  check(status == 200);
  check(view(response[beast_http::field::vary]) == "Accept-Encoding");

  const std::string accept = joined(request, beast_http::field::accept);
  const auto format = metrics::negotiate_format(accept);
  if (lower(accept).find("application/openmetrics-text") == std::string::npos) {
    check(format == metrics::Format::text);
  }
  const std::string accept_encoding = joined(request, beast_http::field::accept_encoding);
  const bool gzip = http::accepts_gzip(accept_encoding);
  if (lower(accept_encoding).find("gzip") == std::string::npos &&
      accept_encoding.find('*') == std::string::npos) {
    check(!gzip);
  }

  const bool metrics_route = path == "/metrics";
  const std::string body = metrics_route ? metrics_body(format) : std::string(kIndexBody);
  const std::string_view content_type =
      metrics_route ? metrics::content_type(format) : "text/html; charset=utf-8";
  check(view(response[beast_http::field::content_type]) == content_type);
  if (gzip) {
    check(view(response[beast_http::field::content_encoding]) == "gzip");
    const auto inflated = gunzip(response.body());
    check(inflated && *inflated == body);
  } else {
    check(response.count(beast_http::field::content_encoding) == 0);
    check(response.body() == body);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static boost::asio::io_context io;
  static const auto table = routes();
  const http::ServerLimits limits;

  beast::test::stream client_bytes(
      io, beast::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
  client_bytes.read_size(kReadSizes[data[0] & 7]);
  client_bytes.close_remote();  // the client sends nothing more: reads end in eof

  beast::flat_buffer buffer;  // kept across requests, as the connection keeps it
  for (int served = 0; served < kMaxRequests; ++served) {
    // As StreamConnection::run() reads a request, with the same rules (request_reading.hpp):
    // the header, what it refuses, then the rest.
    http::RequestParser parser;
    http::apply_limits(parser, limits);
    beast::error_code ec;
    beast_http::read_header(client_bytes, buffer, parser, ec);
    if (!ec) ec = http::header_refusal(parser, limits);
    if (!ec && !parser.is_done()) beast_http::read(client_bytes, buffer, parser, ec);
    if (ec) {
      check(ec.category() == beast_http::make_error_code(beast_http::error::bad_method).category());
      if (const auto status = http::refusal_for(ec)) {
        auto response = http::error_response(*status);
        response.keep_alive(false);
        check(view(response[beast_http::field::content_length]) ==
              std::to_string(response.body().size()));
        check_serializes(response, false);
      }
      break;
    }
    const http::BeastRequest request = parser.release();
    auto answer = http::answer(request, table);
    check_answer(request, answer, table);
    const bool head = request.method() == beast_http::verb::head;
    const bool keep_alive = request.keep_alive();
    answer.response.keep_alive(keep_alive);
    check_serializes(answer.response, head);
    if (!keep_alive) break;
  }
  return 0;
}
