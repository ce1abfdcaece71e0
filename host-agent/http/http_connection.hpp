// One accepted HTTP(S) connection, served by one coroutine: the TLS handshake if the server
// has TLS, then requests one after another (keep-alive, pipelining), each answered in order,
// until the client closes, a timeout or a bad request ends it, or the server closes it.
// Plain and TLS connections are the same code over two stream types (http_connection.cpp).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <memory>

namespace perfkvm::host::http {

struct ServerState;

class HttpConnection : public std::enable_shared_from_this<HttpConnection> {
 public:
  using Clock = std::chrono::steady_clock;

  virtual ~HttpConnection() = default;

  // Serves until the end; call through co_spawn on the socket's executor. Leaves the server's
  // connection table when it ends.
  virtual boost::asio::awaitable<void> run() = 0;
  // Closes the socket at once: run() ends soon after.
  virtual void close() = 0;

  // Waiting for a request (TLS handshake, idle keep-alive, a request still arriving, the
  // final close): such a connection may give way to a new one at the cap; one answering may
  // not. waiting_since() orders them.
  bool waiting() const { return waiting_; }
  Clock::time_point waiting_since() const { return waiting_since_; }

 protected:
  HttpConnection() = default;
  void set_waiting(Clock::time_point since) {
    waiting_ = true;
    waiting_since_ = since;
  }
  void set_answering() { waiting_ = false; }

 private:
  bool waiting_ = true;
  Clock::time_point waiting_since_ = Clock::now();
};

// The connection for a socket just accepted by `server`'s acceptor: TLS when the server has
// a TLS context. Not started: co_spawn its run().
std::shared_ptr<HttpConnection> make_connection(boost::asio::ip::tcp::socket socket,
                                                std::shared_ptr<ServerState> server);

}  // namespace perfkvm::host::http
