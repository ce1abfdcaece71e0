// Test clients for the HTTP server: raw bytes over plain TCP or over TLS (OpenSSL's own API),
// so that malformed and slow requests can be sent. Every wait is bounded: a wedged server
// fails a test (TimedOut) instead of hanging it.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace perfkvm::test {

using Millis = std::chrono::milliseconds;
using Endpoint = boost::asio::ip::tcp::endpoint;

struct TimedOut : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct HttpReply {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // as received (still compressed if Content-Encoding says so)

  // The first header of that name (case-insensitive), if any.
  std::optional<std::string> header(std::string_view name) const;
};

class Connection {
 public:
  virtual ~Connection() = default;

  // False if the server closed or reset the connection.
  virtual bool send(std::string_view bytes) = 0;
  // One reply (for a HEAD request no body is read); nullopt if the server closed before a
  // whole reply came.
  std::optional<HttpReply> read_reply(bool head = false, Millis timeout = Millis(5000));
  // Everything the server sends until it closes the connection; nullopt if it does not close
  // within `timeout`.
  std::optional<std::string> rest_until_closed(Millis timeout = Millis(5000));
  // Why the last read or send failed, if the transport knows (TLS: OpenSSL's errors).
  virtual std::string failure() const { return "closed"; }

 protected:
  enum class Read { data, closed, timeout };
  // Appends what arrives within `timeout` to `into`.
  virtual Read read_some(std::string& into, Millis timeout) = 0;

 private:
  std::string pending_;  // received, not yet part of a reply
};

// `receive_buffer` > 0: SO_RCVBUF before connecting (a client that takes answers slowly).
std::unique_ptr<Connection> connect_plain(const Endpoint& endpoint, int receive_buffer = 0);

struct TlsClient {
  std::string ca;  // verify the server's certificate (and its IP address) against this CA
  std::string cert;  // a client certificate, if any
  std::string key;
  bool legacy_only = false;  // offer TLS 1.0-1.1 only, at OpenSSL security level 0
};

// Throws std::runtime_error("TLS handshake failed: ...") when the handshake fails. With TLS
// 1.3 a server that rejects the client's certificate says so after the client's handshake is
// done: then the first read fails instead.
std::unique_ptr<Connection> connect_tls(const Endpoint& endpoint, const TlsClient& client,
                                        Millis timeout = Millis(5000));

// The bytes of a request: "<method> <target> HTTP/1.1", Host, then `headers` (each ending in
// "\r\n"), then the blank line.
std::string request(std::string_view method, std::string_view target, std::string_view headers = "");

// One GET on a connection of its own (with "Connection: close"). Throws std::runtime_error
// if no reply comes.
HttpReply get(const Endpoint& endpoint, std::string_view target, std::string_view headers = "");

}  // namespace perfkvm::test
