#include "http_client.hpp"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "util/unique_fd.hpp"

namespace perfkvm::test {

using Clock = std::chrono::steady_clock;

namespace {

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

Millis left_until(Clock::time_point deadline) {
  return std::max(Millis(0), std::chrono::duration_cast<Millis>(deadline - Clock::now()));
}

// Waits for `events` on `fd`; false on timeout.
bool wait_for(int fd, short events, Millis timeout) {
  pollfd waiting{fd, events, 0};
  for (;;) {
    const int ready = ::poll(&waiting, 1, static_cast<int>(timeout.count()));
    if (ready >= 0) return ready > 0;
    if (errno != EINTR) throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
  }
}

UniqueFd connect_socket(const Endpoint& endpoint, int receive_buffer) {
  UniqueFd fd(::socket(endpoint.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  if (receive_buffer > 0) {
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  }
  if (::connect(fd.get(), endpoint.data(), static_cast<socklen_t>(endpoint.size())) != 0) {
    throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
  }
  ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) | O_NONBLOCK);
  return fd;
}

class PlainConnection final : public Connection {
 public:
  explicit PlainConnection(UniqueFd fd) : fd_(std::move(fd)) {}

  bool send(std::string_view bytes) override {
    const auto deadline = Clock::now() + Millis(5000);
    while (!bytes.empty()) {
      const auto sent = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (sent > 0) {
        bytes.remove_prefix(static_cast<std::size_t>(sent));
      } else if (sent < 0 && (errno == EAGAIN || errno == EINTR)) {
        if (!wait_for(fd_.get(), POLLOUT, left_until(deadline))) throw TimedOut("send: timed out");
      } else {
        return false;  // EPIPE, ECONNRESET: the server closed
      }
    }
    return true;
  }

 protected:
  Read read_some(std::string& into, Millis timeout) override {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      std::array<char, 16384> buffer;
      const auto got = ::recv(fd_.get(), buffer.data(), buffer.size(), 0);
      if (got > 0) {
        into.append(buffer.data(), static_cast<std::size_t>(got));
        return Read::data;
      }
      if (got == 0) return Read::closed;
      if (errno != EAGAIN && errno != EINTR) return Read::closed;  // reset
      if (!wait_for(fd_.get(), POLLIN, left_until(deadline))) return Read::timeout;
    }
  }

 private:
  UniqueFd fd_;
};

struct SslCtxFree {
  void operator()(SSL_CTX* context) const { SSL_CTX_free(context); }
};
struct SslFree {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};

std::string openssl_errors() {
  std::string errors;
  while (const unsigned long code = ERR_get_error()) {
    std::array<char, 256> text;
    ERR_error_string_n(code, text.data(), text.size());
    if (!errors.empty()) errors += "; ";
    errors += text.data();
  }
  return errors.empty() ? std::string("no OpenSSL error queued") : errors;
}

class TlsConnection final : public Connection {
 public:
  TlsConnection(UniqueFd fd, const Endpoint& endpoint, const TlsClient& client, Millis timeout)
      : fd_(std::move(fd)), context_(SSL_CTX_new(TLS_client_method())) {
    ERR_clear_error();
    SSL_CTX* context = context_.get();
    if (client.legacy_only) {
      SSL_CTX_set_security_level(context, 0);
      SSL_CTX_set_min_proto_version(context, TLS1_VERSION);
      SSL_CTX_set_max_proto_version(context, TLS1_1_VERSION);
      SSL_CTX_set_cipher_list(context, "DEFAULT@SECLEVEL=0");
    }
    if (!client.ca.empty()) {
      if (SSL_CTX_load_verify_locations(context, client.ca.c_str(), nullptr) != 1) {
        throw std::runtime_error("test client: cannot load " + client.ca + ": " + openssl_errors());
      }
      SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nullptr);
    }
    if (!client.cert.empty()) {
      if (SSL_CTX_use_certificate_file(context, client.cert.c_str(), SSL_FILETYPE_PEM) != 1 ||
          SSL_CTX_use_PrivateKey_file(context, client.key.c_str(), SSL_FILETYPE_PEM) != 1) {
        throw std::runtime_error("test client: cannot load " + client.cert + ": " + openssl_errors());
      }
    }
    ssl_.reset(SSL_new(context));
    SSL_set_fd(ssl_.get(), fd_.get());
    if (!client.ca.empty()) {  // the certificate must be the server's address's
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_.get()), endpoint.address().to_string().c_str());
    }
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      const int result = SSL_connect(ssl_.get());
      if (result == 1) break;
      if (!wait_until_ready(SSL_get_error(ssl_.get(), result), deadline)) {
        throw std::runtime_error("TLS handshake failed: " + openssl_errors());
      }
    }
  }

  bool send(std::string_view bytes) override {
    const auto deadline = Clock::now() + Millis(5000);
    while (!bytes.empty()) {
      ERR_clear_error();
      const int sent = SSL_write(ssl_.get(), bytes.data(), static_cast<int>(bytes.size()));
      if (sent > 0) {
        bytes.remove_prefix(static_cast<std::size_t>(sent));
      } else if (!wait_until_ready(SSL_get_error(ssl_.get(), sent), deadline)) {
        failure_ = openssl_errors();
        return false;
      }
    }
    return true;
  }

 protected:
  Read read_some(std::string& into, Millis timeout) override {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      std::array<char, 16384> buffer;
      ERR_clear_error();
      const int got = SSL_read(ssl_.get(), buffer.data(), static_cast<int>(buffer.size()));
      if (got > 0) {
        into.append(buffer.data(), static_cast<std::size_t>(got));
        return Read::data;
      }
      const int error = SSL_get_error(ssl_.get(), got);
      if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
        failure_ = openssl_errors();
        return Read::closed;
      }
      if (!wait_until_ready(error, deadline)) return Clock::now() >= deadline ? Read::timeout : Read::closed;
    }
  }

 private:
  // For SSL_ERROR_WANT_READ/WRITE: waits for the socket (false at the deadline); for any
  // other error: false at once.
  bool wait_until_ready(int ssl_error, Clock::time_point deadline) {
    if (ssl_error == SSL_ERROR_WANT_READ) return wait_for(fd_.get(), POLLIN, left_until(deadline));
    if (ssl_error == SSL_ERROR_WANT_WRITE) return wait_for(fd_.get(), POLLOUT, left_until(deadline));
    return false;
  }

 public:
  std::string failure() const override { return failure_; }

 private:
  UniqueFd fd_;
  std::string failure_;
  std::unique_ptr<SSL_CTX, SslCtxFree> context_;
  std::unique_ptr<SSL, SslFree> ssl_;
};

}  // namespace

std::optional<std::string> HttpReply::header(std::string_view name) const {
  for (const auto& [field, value] : headers) {
    if (equals_ignoring_case(field, name)) return value;
  }
  return std::nullopt;
}

std::optional<HttpReply> Connection::read_reply(bool head, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  const auto more = [&] {
    const auto read = read_some(pending_, left_until(deadline));
    if (read == Read::timeout) throw TimedOut("no whole reply within " + std::to_string(timeout.count()) + " ms");
    return read == Read::data;
  };
  std::size_t header_end;
  while ((header_end = pending_.find("\r\n\r\n")) == std::string::npos) {
    if (!more()) return std::nullopt;
  }
  HttpReply reply;
  std::string_view header(pending_.data(), header_end);
  const auto line_end = header.find("\r\n");
  const auto status_line = header.substr(0, line_end);
  if (status_line.size() < 12 || status_line.substr(0, 5) != "HTTP/") {
    throw std::runtime_error("not an HTTP reply: " + std::string(status_line));
  }
  std::from_chars(status_line.data() + 9, status_line.data() + 12, reply.status);
  header = line_end == std::string_view::npos ? std::string_view() : header.substr(line_end + 2);
  while (!header.empty()) {
    const auto end = header.find("\r\n");
    const auto line = header.substr(0, end);
    const auto colon = line.find(':');
    if (colon != std::string_view::npos) {
      auto value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      reply.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
    }
    header = end == std::string_view::npos ? std::string_view() : header.substr(end + 2);
  }
  pending_.erase(0, header_end + 4);
  std::size_t length = 0;
  const auto content_length = reply.header("Content-Length");
  if (content_length) std::from_chars(content_length->data(), content_length->data() + content_length->size(), length);
  if (head) return reply;
  if (!content_length) {  // until the close
    while (more()) {
    }
    length = pending_.size();
  }
  while (pending_.size() < length) {
    if (!more()) return std::nullopt;
  }
  reply.body = pending_.substr(0, length);
  pending_.erase(0, length);
  return reply;
}

std::optional<std::string> Connection::rest_until_closed(Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto read = read_some(pending_, left_until(deadline));
    if (read == Read::closed) return std::exchange(pending_, std::string());
    if (read == Read::timeout) return std::nullopt;
  }
}

std::unique_ptr<Connection> connect_plain(const Endpoint& endpoint, int receive_buffer) {
  return std::make_unique<PlainConnection>(connect_socket(endpoint, receive_buffer));
}

std::unique_ptr<Connection> connect_tls(const Endpoint& endpoint, const TlsClient& client, Millis timeout) {
  return std::make_unique<TlsConnection>(connect_socket(endpoint, 0), endpoint, client, timeout);
}

std::string request(std::string_view method, std::string_view target, std::string_view headers) {
  return std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: perfkvm-test\r\n" +
         std::string(headers) + "\r\n";
}

HttpReply get(const Endpoint& endpoint, std::string_view target, std::string_view headers) {
  const auto connection = connect_plain(endpoint);
  if (!connection->send(request("GET", target, std::string(headers) + "Connection: close\r\n"))) {
    throw std::runtime_error("GET " + std::string(target) + ": the server closed the connection");
  }
  auto reply = connection->read_reply();
  if (!reply) throw std::runtime_error("GET " + std::string(target) + ": closed without a reply");
  return *reply;
}

}  // namespace perfkvm::test
