// The answer to one complete request, as a function of the request and the routes only (no
// I/O): a route's 200 (gzip-compressed when accepted), 404, 405, 500; and the answers the
// connection gives on its own to requests it could not read (400, 413, 431).
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <map>
#include <string>

#include "host-agent/http/server_options.hpp"

namespace perfkvm::host::http {

using BeastRequest = boost::beast::http::request<boost::beast::http::string_body>;
using BeastResponse = boost::beast::http::response<boost::beast::http::string_body>;

struct Answer {
  BeastResponse response;  // Content-Length set; for HEAD the body is there, to be left unsent
  bool route_failed = false;  // the route threw (answered 500, logged)
};

// GET or HEAD of a route's path (the target up to '?', matched exactly) -> the route's
// answer; another path -> 404; another method -> 405 with "Allow: GET, HEAD".
Answer answer(const BeastRequest& request, const std::map<std::string, Route>& routes);

// A short text/plain answer with `status`, e.g. "400 Bad Request".
BeastResponse error_response(boost::beast::http::status status, unsigned version = 11);

}  // namespace perfkvm::host::http
