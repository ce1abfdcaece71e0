#include "host-agent/http/http_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <algorithm>
#include <cerrno>

#include "host-agent/http/http_connection.hpp"
#include "host-agent/http/server_state.hpp"
#include "util/asio_nothrow.hpp"
#include "util/log.hpp"
#include "util/log_exceptions.hpp"
#include "util/token_bucket.hpp"

namespace perfkvm::host::http {

namespace asio = boost::asio;
using perfkvm::use_nothrow;

namespace {

// While out of descriptors or memory the pending connection stays queued and accept fails
// again at once: pause instead of spinning hostd's one thread.
constexpr std::chrono::milliseconds kAcceptPause{100};

bool out_of_resources(const boost::system::error_code& ec) {
  const int code = ec.value();
  return ec.category() == boost::system::system_category() &&
         (code == EMFILE || code == ENFILE || code == ENOBUFS || code == ENOMEM);
}

asio::awaitable<void> accept_loop(std::shared_ptr<ServerState> server) {
  auto& stats = server->stats;
  TokenBucket pace(server->limits.max_accepts_per_second, TokenBucket::Clock::now(),
                   static_cast<std::uint32_t>(server->limits.max_connections));
  asio::steady_timer pace_timer(server->acceptor.get_executor());
  while (!server->stopped) {
    if (const auto wait = pace.delay(TokenBucket::Clock::now()); wait.count() > 0) {
      pace_timer.expires_after(wait);
      co_await pace_timer.async_wait(use_nothrow);
      if (server->stopped) break;
    }
    auto [ec, socket] = co_await server->acceptor.async_accept(use_nothrow);
    pace.record(TokenBucket::Clock::now());
    if (server->stopped) break;
    if (ec) {
      ++stats.accept_failures;
      if (log::enabled(log::Level::debug)) log::debug("http: accept failed: " + ec.message());
      if (out_of_resources(ec)) {
        asio::steady_timer pause(server->acceptor.get_executor(), kAcceptPause);
        co_await pause.async_wait(use_nothrow);
      }
      continue;
    }
    ++stats.connections_accepted;
    const auto room = server->connections.make_room();
    if (room == ConnectionTable::Room::none) {
      // Decided before any TLS or parser state exists: a flood costs an accept and a close.
      ++stats.connections_refused;
      if (log::enabled(log::Level::debug)) {
        log::debug("http: refused a connection: all " +
                   std::to_string(server->limits.max_connections) + " connections are answering");
      }
      continue;  // the socket closes here
    }
    if (room == ConnectionTable::Room::made_by_eviction) ++stats.connections_evicted;
    std::shared_ptr<HttpConnection> connection;
    try {
      connection = make_connection(std::move(socket), server);
      server->connections.add(connection);
      stats.peak_connections = std::max(stats.peak_connections, server->connections.size());
      asio::co_spawn(server->acceptor.get_executor(), [connection] { return connection->run(); },
                     log_exceptions("http connection"));
    } catch (const std::exception& failure) {
      // No memory for one more connection (or OpenSSL for its TLS state): that one is lost,
      // the listener must not be.
      if (connection) server->connections.remove(*connection);
      log::warning(std::string("http: could not set up a connection: ") + failure.what());
    }
  }
}

}  // namespace

HttpServer::HttpServer(asio::any_io_executor executor, asio::ip::tcp::endpoint endpoint,
                       std::map<std::string, Route> routes, ServerLimits limits,
                       std::optional<TlsFiles> tls)
    : state_(std::make_shared<ServerState>(std::move(executor), endpoint, std::move(routes),
                                           limits, tls)) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() {
  if (state_->started || state_->stopped) return;
  state_->started = true;
  asio::co_spawn(state_->acceptor.get_executor(), accept_loop(state_),
                 log_exceptions("http accept loop"));
}

void HttpServer::stop() {
  if (state_->stopped) return;
  state_->stopped = true;
  boost::system::error_code ignored;
  state_->acceptor.close(ignored);
  state_->connections.close_all();
}

asio::ip::tcp::endpoint HttpServer::local_endpoint() const { return state_->local_endpoint; }

std::size_t HttpServer::connection_count() const { return state_->connections.size(); }

const ServerStats& HttpServer::stats() const { return state_->stats; }

}  // namespace perfkvm::host::http
