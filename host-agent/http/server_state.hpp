// What one server's accept loop and connections share. Each of them holds it by shared_ptr,
// so that it outlives the HttpServer object while a coroutine still runs on the executor.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <map>
#include <optional>
#include <string>

#include "host-agent/http/connection_table.hpp"
#include "host-agent/http/server_options.hpp"
#include "host-agent/http/server_stats.hpp"

namespace perfkvm::host::http {

struct ServerState {
  // Loads the TLS files (std::runtime_error), then binds and listens
  // (boost::system::system_error): bad TLS files fail before the port is taken.
  ServerState(boost::asio::any_io_executor executor, const boost::asio::ip::tcp::endpoint& endpoint,
              std::map<std::string, Route> routes, const ServerLimits& limits,
              const std::optional<TlsFiles>& tls_files);

  std::map<std::string, Route> routes;
  ServerLimits limits;
  std::optional<boost::asio::ssl::context> tls;
  boost::asio::ip::tcp::acceptor acceptor;
  boost::asio::ip::tcp::endpoint local_endpoint;  // kept: the acceptor's is gone once closed
  ServerStats stats;
  ConnectionTable connections;
  bool started = false;
  bool stopped = false;
};

}  // namespace perfkvm::host::http
