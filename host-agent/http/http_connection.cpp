#include "host-agent/http/http_connection.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

#include "host-agent/http/listen_address.hpp"
#include "host-agent/http/request_reading.hpp"
#include "host-agent/http/router.hpp"
#include "host-agent/http/server_state.hpp"
#include "util/asio_nothrow.hpp"
#include "util/log.hpp"

namespace perfkvm::host::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace beast_http = boost::beast::http;
using perfkvm::use_nothrow;
using boost::system::error_code;

namespace {

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// After the last answer, what the client still sends is read and dropped, at most this much
// for at most this long, before the close (see linger_and_close).
constexpr std::size_t kLingerBytes = 64 * 1024;
constexpr std::chrono::milliseconds kLingerTime{1000};
// The first read of a keep-alive connection's next request; the parser reads the rest.
constexpr std::size_t kFirstRead = 4096;

template <class Action>
class ScopeExit {
 public:
  explicit ScopeExit(Action action) : action_(std::move(action)) {}
  ~ScopeExit() { action_(); }
  ScopeExit(const ScopeExit&) = delete;
  ScopeExit& operator=(const ScopeExit&) = delete;

 private:
  Action action_;
};

template <class Stream>
Stream open_stream(asio::ip::tcp::socket socket, ServerState& server) {
  if constexpr (std::is_same_v<Stream, TlsStream>) {
    return Stream(std::move(socket), *server.tls);
  } else {
    return Stream(std::move(socket));
  }
}

template <class Stream>
class StreamConnection final : public HttpConnection {
 public:
  StreamConnection(asio::ip::tcp::socket socket, std::shared_ptr<ServerState> server, std::string peer)
      : stream_(open_stream<Stream>(std::move(socket), *server)),
        server_(std::move(server)),
        peer_(std::move(peer)) {}

  asio::awaitable<void> run() override;
  void close() override { tcp().close(); }

 private:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  beast::tcp_stream& tcp() { return beast::get_lowest_layer(stream_); }
  const ServerLimits& limits() const { return server_->limits; }
  ServerStats& stats() { return server_->stats; }

  asio::awaitable<bool> handshake();
  asio::awaitable<bool> await_next_request();
  asio::awaitable<void> refuse_unreadable(const error_code& ec);
  asio::awaitable<bool> send(BeastResponse& response, bool head);
  asio::awaitable<void> linger_and_close();
  // Failed and refused connections are routine under a flood or a port scan: debug only.
  void debug(const std::string& what) const { log::debug("http: " + peer_ + ": " + what); }

  Stream stream_;
  std::shared_ptr<ServerState> server_;
  std::string peer_;  // "address:port", for debug logs
  beast::flat_buffer buffer_;  // read ahead: a pipelined next request stays here
};

template <class Stream>
asio::awaitable<void> StreamConnection<Stream>::run() {
  const auto self = shared_from_this();
  const ScopeExit leave_table([this] { server_->connections.remove(*this); });
  // One deadline for the handshake and the whole first request: a client that connects and
  // dribbles (slowloris) holds a slot for request_timeout at most.
  tcp().expires_after(limits().request_timeout);
  if (!co_await handshake()) co_return;
  for (bool first = true;; first = false) {
    set_waiting(Clock::now());
    if (!first && !co_await await_next_request()) co_return;
    RequestParser parser;
    apply_limits(parser, limits());
    auto [header_error, header_bytes] =
        co_await beast_http::async_read_header(stream_, buffer_, parser, use_nothrow);
    error_code read_error = header_error ? header_error : header_refusal(parser, limits());
    if (!read_error && !parser.is_done()) {
      auto [body_error, body_bytes] =
          co_await beast_http::async_read(stream_, buffer_, parser, use_nothrow);
      read_error = body_error;
    }
    if (read_error) {
      co_await refuse_unreadable(read_error);
      co_return;
    }
    set_answering();
    const BeastRequest request = parser.release();
    auto [response, route_failed] = answer(request, server_->routes);
    if (route_failed) ++stats().route_failures;
    const bool keep_alive = request.keep_alive() && !server_->stopped;
    response.keep_alive(keep_alive);
    if (!co_await send(response, request.method() == beast_http::verb::head)) co_return;
    if (!keep_alive) {
      co_await linger_and_close();
      co_return;
    }
  }
}

template <class Stream>
asio::awaitable<bool> StreamConnection<Stream>::handshake() {
  if constexpr (kTls) {
    auto [ec] = co_await stream_.async_handshake(asio::ssl::stream_base::server, use_nothrow);
    if (!ec) co_return true;
    if (ec == asio::error::operation_aborted || server_->stopped) co_return false;  // we closed it
    if (ec == beast::error::timeout) {
      ++stats().request_timeouts;
    } else {
      ++stats().tls_handshake_failures;
    }
    debug("TLS handshake failed: " + ec.message());
    co_return false;
  } else {
    co_return true;
  }
}

// Between requests: the next one's first bytes must come within idle_timeout, the rest of
// it within request_timeout of them.
template <class Stream>
asio::awaitable<bool> StreamConnection<Stream>::await_next_request() {
  if (buffer_.size() == 0) {
    tcp().expires_after(limits().idle_timeout);
    auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(kFirstRead), use_nothrow);
    if (ec) co_return false;  // idle for too long, or the client closed: routine
    buffer_.commit(n);
  }
  tcp().expires_after(limits().request_timeout);
  co_return true;
}

template <class Stream>
asio::awaitable<void> StreamConnection<Stream>::refuse_unreadable(const error_code& ec) {
  if (ec == beast::error::timeout) {
    ++stats().request_timeouts;
    debug("no whole request within " + std::to_string(limits().request_timeout.count()) +
          " ms: closed");
    co_return;  // the stream closed the socket
  }
  const auto status = refusal_for(ec);
  if (!status) co_return;
  debug("unreadable request (" + ec.message() + "): answered " +
        std::to_string(static_cast<unsigned>(*status)));
  auto response = error_response(*status);
  response.keep_alive(false);  // the rest of the stream cannot be trusted to be a request
  if (co_await send(response, false)) co_await linger_and_close();
}

template <class Stream>
asio::awaitable<bool> StreamConnection<Stream>::send(BeastResponse& response, bool head) {
  const unsigned status = response.result_int();
  if (status < 300) {
    ++stats().responses_2xx;
  } else if (status < 500) {
    ++stats().responses_4xx;
  } else {
    ++stats().responses_5xx;
  }
  tcp().expires_after(limits().write_timeout);
  error_code ec;
  if (head) {  // the same header, Content-Length included, and no body
    beast_http::response_serializer<beast_http::string_body> serializer(response);
    std::tie(ec, std::ignore) =
        co_await beast_http::async_write_header(stream_, serializer, use_nothrow);
  } else {
    std::tie(ec, std::ignore) = co_await beast_http::async_write(stream_, response, use_nothrow);
  }
  if (ec == beast::error::timeout) {
    ++stats().write_timeouts;
    debug("the answer was not taken within " + std::to_string(limits().write_timeout.count()) +
          " ms: closed");
  } else if (ec) {
    debug("write failed: " + ec.message());
  }
  co_return !ec;
}

// Closing a socket with unread input sends a reset, which can destroy the answer before the
// client reads it (a 431 while the client still sends its headers): stop sending, drop what
// still comes for a moment, then close.
template <class Stream>
asio::awaitable<void> StreamConnection<Stream>::linger_and_close() {
  set_waiting(Clock::time_point::min());  // the first to give way at the cap
  error_code ignored;
  tcp().socket().shutdown(asio::socket_base::shutdown_send, ignored);
  tcp().expires_after(std::min(kLingerTime, limits().request_timeout));
  std::array<char, 4096> scratch;
  for (std::size_t drained = 0; drained < kLingerBytes;) {
    auto [ec, n] = co_await tcp().async_read_some(asio::buffer(scratch), use_nothrow);
    if (ec) break;
    drained += n;
  }
  tcp().close();
}

}  // namespace

std::shared_ptr<HttpConnection> make_connection(asio::ip::tcp::socket socket,
                                                std::shared_ptr<ServerState> server) {
  error_code ec;
  // An answer is written whole: Nagle would only hold its last segment back.
  socket.set_option(asio::ip::tcp::no_delay(true), ec);
  const auto remote = socket.remote_endpoint(ec);
  std::string peer = ec ? std::string("a peer gone already") : format_endpoint(remote);
  if (server->tls) {
    return std::make_shared<StreamConnection<TlsStream>>(std::move(socket), std::move(server),
                                                         std::move(peer));
  }
  return std::make_shared<StreamConnection<PlainStream>>(std::move(socket), std::move(server),
                                                         std::move(peer));
}

}  // namespace perfkvm::host::http
