// An HttpServer (127.0.0.1, port 0 unless told otherwise) on an io_context run by a thread
// of its own; the test's thread is the client. The server is single-threaded like hostd:
// whatever a test asks of it goes through on_server(), which runs on the server's thread.
#pragma once

#include <doctest/doctest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>

#include "host-agent/http/http_server.hpp"
#include "http_client.hpp"

namespace perfkvm::test {

namespace http = perfkvm::host::http;

inline Endpoint loopback_any_port() { return {boost::asio::ip::address_v4::loopback(), 0}; }

// The next reply on `connection`; fails the test if the server closes without one.
inline HttpReply reply_on(Connection& connection, bool head = false) {
  auto reply = connection.read_reply(head);
  REQUIRE_MESSAGE(reply, "the server closed the connection without a reply");
  return *reply;
}

class TestServer {
 public:
  explicit TestServer(std::map<std::string, http::Route> routes, http::ServerLimits limits = {},
                      std::optional<http::TlsFiles> tls = std::nullopt,
                      Endpoint endpoint = loopback_any_port())
      : work_(boost::asio::make_work_guard(io_)) {
    server_.emplace(io_.get_executor(), endpoint, std::move(routes), limits, std::move(tls));
    server_->start();
    endpoint_ = server_->local_endpoint();
    thread_ = std::thread([this] {
      try {
        io_.run();
      } catch (...) {
        finished_.set_exception(std::current_exception());
        return;
      }
      finished_.set_value();
    });
  }

  // Stops the server; its thread must then run out of work (every coroutine ended) soon.
  ~TestServer() {
    boost::asio::post(io_, [this] { server_->stop(); });
    work_.reset();
    auto finished = finished_.get_future();
    const bool wound_down = finished.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
    CHECK_MESSAGE(wound_down, "the server's io_context still had work 10 s after stop()");
    if (!wound_down) io_.stop();
    thread_.join();
  }

  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  const Endpoint& endpoint() const { return endpoint_; }

  // f(server) on the server's thread; its result.
  template <class F>
  auto on_server(F f) -> std::invoke_result_t<F&, http::HttpServer&> {
    using Result = std::invoke_result_t<F&, http::HttpServer&>;
    auto promise = std::make_shared<std::promise<Result>>();
    auto future = promise->get_future();
    boost::asio::post(io_, [this, promise, f = std::move(f)]() mutable {
      try {
        if constexpr (std::is_void_v<Result>) {
          f(*server_);
          promise->set_value();
        } else {
          promise->set_value(f(*server_));
        }
      } catch (...) {
        promise->set_exception(std::current_exception());
      }
    });
    if (future.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
      throw TimedOut("the server's thread did not answer within 5 s");
    }
    return future.get();
  }

  std::size_t connection_count() {
    return on_server([](http::HttpServer& server) { return server.connection_count(); });
  }
  http::ServerStats stats() {
    return on_server([](http::HttpServer& server) { return server.stats(); });
  }
  void stop() {
    on_server([](http::HttpServer& server) { server.stop(); });
  }
  // Polls `condition` on the server's thread until it holds; false if it still does not
  // after `timeout`.
  bool wait_until(const std::function<bool(http::HttpServer&)>& condition,
                  Millis timeout = Millis(5000)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!on_server(condition)) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(Millis(5));
    }
    return true;
  }

 private:
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::optional<http::HttpServer> server_;
  Endpoint endpoint_;
  std::promise<void> finished_;
  std::thread thread_;
};

}  // namespace perfkvm::test
