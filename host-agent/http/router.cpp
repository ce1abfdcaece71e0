#include "host-agent/http/router.hpp"

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <exception>
#include <string_view>

#include "host-agent/http/gzip.hpp"
#include "util/log.hpp"

namespace perfkvm::host::http {

namespace beast_http = boost::beast::http;

namespace {

constexpr std::string_view kServerName = "perfkvm-hostd";

std::string_view view(boost::beast::string_view text) { return {text.data(), text.size()}; }

// Every value of a header that may repeat, joined by ", " (RFC 9110 5.3).
std::string joined(const BeastRequest& request, beast_http::field field) {
  std::string values;
  for (auto [it, end] = request.equal_range(field); it != end; ++it) {
    if (!values.empty()) values += ", ";
    values += view(it->value());
  }
  return values;
}

// HTTP/1.0 clients are answered in 1.0; everything else (1.1, or an unknown 1.x) in 1.1.
unsigned answer_version(const BeastRequest& request) { return request.version() == 10 ? 10 : 11; }

BeastResponse route_response(const BeastRequest& request, Response routed) {
  BeastResponse response(beast_http::status::ok, answer_version(request));
  response.set(beast_http::field::server, kServerName);
  response.set(beast_http::field::content_type, routed.content_type);
  // The body depends on Accept-Encoding whether or not this one is compressed (caches).
  response.set(beast_http::field::vary, "Accept-Encoding");
  if (accepts_gzip(joined(request, beast_http::field::accept_encoding))) {
    response.set(beast_http::field::content_encoding, "gzip");
    response.body() = gzip_compress(routed.body);
  } else {
    response.body() = std::move(routed.body);
  }
  response.prepare_payload();
  return response;
}

}  // namespace

BeastResponse error_response(beast_http::status status, unsigned version) {
  BeastResponse response(status, version);
  response.set(beast_http::field::server, kServerName);
  response.set(beast_http::field::content_type, "text/plain; charset=utf-8");
  response.body() = std::to_string(static_cast<unsigned>(status)) + " " +
                    std::string(view(beast_http::obsolete_reason(status))) + "\n";
  response.prepare_payload();
  return response;
}

Answer answer(const BeastRequest& request, const std::map<std::string, Route>& routes) {
  const auto target = view(request.target());
  const auto path = target.substr(0, target.find('?'));
  const auto route = routes.find(std::string(path));
  if (route == routes.end() || !route->second) {
    return {error_response(beast_http::status::not_found, answer_version(request))};
  }
  const auto method = request.method();
  if (method != beast_http::verb::get && method != beast_http::verb::head) {
    auto response = error_response(beast_http::status::method_not_allowed, answer_version(request));
    response.set(beast_http::field::allow, "GET, HEAD");
    return {std::move(response)};
  }
  const std::string accept = joined(request, beast_http::field::accept);
  const Request routed{target, method == beast_http::verb::head, accept};
  const std::string label = "http: route '" + std::string(path) + "' failed";
  try {
    return {route_response(request, route->second(routed))};
  } catch (const std::exception& failure) {
    log::error(label + ": " + log::printable(failure.what()));
  } catch (...) {
    log::error(label + " with an unknown exception");
  }
  return {error_response(beast_http::status::internal_server_error, answer_version(request)), true};
}

}  // namespace perfkvm::host::http
