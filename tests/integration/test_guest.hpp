// The guest end of a channel in integration tests: frames written straight to a socket,
// replies read without blocking while the host's io_context runs in the same thread.
#pragma once

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>

#include "protocol/codec.hpp"
#include "util/unique_fd.hpp"

namespace perfkvm::test {

class TestGuest {
 public:
  TestGuest(boost::asio::io_context& io, UniqueFd fd) : io_(io), fd_(std::move(fd)) {
    ::fcntl(fd_.get(), F_SETFL, ::fcntl(fd_.get(), F_GETFL) | O_NONBLOCK);
  }

  int fd() const { return fd_.get(); }

  void send_bytes(const std::string& bytes) {
    std::size_t at = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (at < bytes.size()) {
      const ssize_t n = ::send(fd_.get(), bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
      if (n > 0) {
        at += static_cast<std::size_t>(n);
      } else if (std::chrono::steady_clock::now() > deadline) {
        throw std::runtime_error("test guest: the host does not read");
      } else {
        io_.run_for(std::chrono::milliseconds(1));
      }
    }
  }

  void send(const protocol::Message& message) { send_bytes(protocol::encode_message(message)); }

  // The next frame from the host, parsed; runs the io_context meanwhile. Throws on timeout.
  protocol::Message receive(std::chrono::milliseconds timeout = std::chrono::milliseconds(3000)) {
    if (auto message = try_receive(timeout)) return *message;
    throw std::runtime_error("test guest: no frame from the host within " +
                             std::to_string(timeout.count()) + " ms");
  }

  std::optional<protocol::Message> try_receive(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      std::string_view rest = pending_;
      if (auto payload = decoder_.next(rest)) {
        pending_ = std::string(rest);
        auto parsed = protocol::parse_message(*payload);
        if (auto* error = std::get_if<protocol::ParseError>(&parsed)) {
          throw std::runtime_error("test guest: host sent an invalid message: " + error->message);
        }
        return std::get<protocol::Message>(std::move(parsed));
      }
      pending_.clear();
      char buffer[65536];
      const ssize_t n = ::recv(fd_.get(), buffer, sizeof buffer, 0);
      if (n > 0) {
        pending_.assign(buffer, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0) throw std::runtime_error("test guest: the host closed the channel");
      if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
      io_.run_for(std::chrono::milliseconds(2));
    }
  }

  // Receives until a message of type T arrives (samples before it are collected).
  template <class T>
  T receive_until(std::vector<protocol::Sample>* samples = nullptr,
                  std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto message = try_receive(std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now()));
      if (!message) break;
      if (auto* wanted = std::get_if<T>(&*message)) return *wanted;
      if (auto* sample = std::get_if<protocol::Sample>(&*message); sample && samples) {
        samples->push_back(*sample);
        continue;
      }
      throw std::runtime_error("test guest: expected '" + std::string(T::kType) + "', got '" +
                               std::string(protocol::type_name(*message)) + "'");
    }
    throw std::runtime_error("test guest: no '" + std::string(T::kType) + "' in time");
  }

 private:
  boost::asio::io_context& io_;
  UniqueFd fd_;
  protocol::FrameDecoder decoder_;
  std::string pending_;
};

}  // namespace perfkvm::test
