// What an HttpServer counts of itself, for hostd's own health metrics. Counters only grow;
// they are read on the server's executor.
#pragma once

#include <cstddef>
#include <cstdint>

namespace perfkvm::host::http {

struct ServerStats {
  std::uint64_t connections_accepted = 0;  // every accepted connection, the refused ones too
  // At max_connections with every connection busy answering: closed at once, unanswered.
  std::uint64_t connections_refused = 0;
  // Closed to make room for a new connection at max_connections: it had waited longest for a
  // request.
  std::uint64_t connections_evicted = 0;
  std::uint64_t accept_failures = 0;         // accept() errors, e.g. out of file descriptors
  std::uint64_t tls_handshake_failures = 0;  // bad or missing client certificates among them
  // The TLS handshake or a request not complete within request_timeout.
  std::uint64_t request_timeouts = 0;
  std::uint64_t write_timeouts = 0;  // a response the client did not take within write_timeout
  // Responses by status class (counted when sent): 200; 400 404 405 413 431; 500.
  std::uint64_t responses_2xx = 0;
  std::uint64_t responses_4xx = 0;
  std::uint64_t responses_5xx = 0;
  std::uint64_t route_failures = 0;  // a route threw (each is also one of responses_5xx)
  std::size_t peak_connections = 0;  // the most connections open at once (never above the cap)
};

}  // namespace perfkvm::host::http
