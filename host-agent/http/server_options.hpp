// What an HttpServer is given: the routes it serves, its limits and its TLS files. Included by
// http_server.hpp; apart so that the server's internals can use them without the server.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace perfkvm::host::http {

// What a route sees of a GET or HEAD request. The views are valid during the route's call only.
struct Request {
  std::string_view target;  // the request-target as sent, query string included: "/metrics?a=b"
  bool head = false;        // HEAD: the body is still wanted, for Content-Length; it is not sent
  std::string_view accept;  // the Accept header (several joined by ", "); empty if none
};

// A route's answer, sent as 200 with this body (gzip-compressed when the client accepts it).
struct Response {
  std::string content_type;
  std::string body;
};

// Called on the server's executor, one request at a time; whatever it throws is answered 500
// and logged, and the server goes on.
using Route = std::function<Response(const Request&)>;

struct ServerLimits {
  // Concurrent connections. At the cap a new connection takes the place of the one that has
  // waited longest for a request (idle keep-alive, slow or silent client, TLS handshake); if
  // every connection is busy answering, the new one is closed at once, unanswered.
  std::size_t max_connections = 64;
  // The TLS handshake and the whole request (first byte to last) must arrive within this; the
  // first request's clock starts at accept (slowloris).
  std::chrono::milliseconds request_timeout{10000};
  // A keep-alive connection that sends no next request for this long is closed.
  std::chrono::milliseconds idle_timeout{30000};
  std::size_t max_header_bytes = 8192;  // request line and headers; beyond: 431 and close
  std::size_t max_body_bytes = 0;       // GET/HEAD only: any body is refused (413 and close)
  // A response must be taken by the client within this (one that does not read is closed).
  std::chrono::milliseconds write_timeout{10000};
  // New connections accepted per second, in bursts of up to max_connections; beyond it they
  // wait in the kernel's listen backlog. Every accept (and the eviction it may cause) is work
  // on hostd's one thread, which also samples guests' counters: a connection flood must not
  // delay a sample by more than a few accepts.
  std::uint32_t max_accepts_per_second = 1000;
};

// PEM files. client_ca empty: no client certificate asked for; set: one signed by it is
// required and verified (mutual TLS).
struct TlsFiles {
  std::string cert;  // the server's certificate chain, leaf first
  std::string key;
  std::string client_ca;
};

}  // namespace perfkvm::host::http
