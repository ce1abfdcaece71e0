// A small hardened HTTP/1.1 server (Boost.Beast) for hostd's metrics endpoint, on the
// executor it is given: GET and HEAD of the routes it is given, optionally over TLS (mutual
// TLS with a client CA), gzip when the client accepts it. It knows nothing of metrics.
//
// Answers: a route's path (the target up to '?', matched exactly) -> 200 with the route's
// body; another path -> 404; a route's path with a method other than GET or HEAD -> 405 with
// "Allow: GET, HEAD"; a malformed request -> 400, headers over the limit -> 431, a body -> 413
// (each then closed); a route that throws -> 500, and the connection goes on. Every answer
// has "Server: perfkvm-hostd" and Content-Length; keep-alive unless the client says
// "Connection: close" (or is HTTP/1.0 without keep-alive). Timeouts and the connection cap:
// ServerLimits. Refused and failed connections are logged at debug level only.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "host-agent/http/server_options.hpp"
#include "host-agent/http/server_stats.hpp"

namespace perfkvm::host::http {

struct ServerState;

class HttpServer {
 public:
  // Loads the TLS files, then binds and listens (not accepting before start()). Throws
  // std::runtime_error with a clear message when the TLS files cannot be loaded,
  // boost::system::system_error when bind/listen fails ("HTTP server: cannot bind
  // 127.0.0.1:9477: Address already in use").
  HttpServer(boost::asio::any_io_executor executor, boost::asio::ip::tcp::endpoint endpoint,
             std::map<std::string, Route> routes, ServerLimits limits = {},
             std::optional<TlsFiles> tls = std::nullopt);
  ~HttpServer();  // stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  void start();  // begins accepting; once only, and never after stop()
  void stop();   // closes the acceptor and every connection at once; final

  // The bound address: with port 0, the port the kernel chose.
  boost::asio::ip::tcp::endpoint local_endpoint() const;
  // Open now, never above ServerLimits::max_connections; a connection that is closing (up to
  // 1 s after its last answer, reading what the client still sends) still counts.
  std::size_t connection_count() const;
  const ServerStats& stats() const;

 private:
  std::shared_ptr<ServerState> state_;
};

}  // namespace perfkvm::host::http
