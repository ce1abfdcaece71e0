// The message stream to perfkvm-hostd over a Transport: frames out through a non-blocking
// outbox, frames in through the decoder, and only this session's messages let through.
//
// virtio-serial quirks handled here (PROTOCOL.md §10.1): while no host is connected read()
// returns EOF at once and poll() reports POLLHUP at once, so after an EOF the port is left
// alone for a growing pause instead of being polled in a spin; writes would block, so they
// wait in the outbox; frames for earlier sessions arrive, and are dropped by nonce.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "guest-agent/diagnostics.hpp"
#include "guest-agent/transport.hpp"
#include "protocol/frame.hpp"
#include "protocol/messages.hpp"

namespace perfkvm::guest {

using Clock = std::chrono::steady_clock;

struct LinkEvent {
  enum class Kind {
    message,    // `message` is a host message of our session
    extra_fd,   // the extra descriptor given to wait() is readable
    timeout,    // the deadline passed
    host_gone,  // the host went away for good (reported once; `reason` says how)
  };
  Kind kind = Kind::timeout;
  protocol::Message message;
  std::string reason;
};

class HostLink {
 public:
  HostLink(Transport transport, Diagnostics& diagnostics);

  const Transport& transport() const { return transport_; }

  // Host messages whose nonce is not this one are dropped from now on.
  void expect_nonce(std::string nonce) { nonce_ = std::move(nonce); }
  const std::string& nonce() const { return nonce_; }

  // After the welcome an EOF on virtio-serial means the host disconnected (its session is
  // gone), where before it only meant "not connected yet".
  void set_session_established() { established_ = true; }

  // Queues a frame; it is written as the transport takes it, during wait().
  void send(const protocol::Message& message);
  // Forgets queued frames not yet begun, e.g. a hello superseded by a newer one.
  void drop_unsent();
  bool all_sent() const { return outbox_.empty(); }

  // Waits for the next message of our session, `extra_fd` readable (-1: none), the deadline,
  // or the host going away. Once the host is gone only extra_fd and the deadline remain.
  LinkEvent wait(Clock::time_point deadline, int extra_fd = -1);

  bool host_gone() const { return gone_; }
  // Begins again after the host went away, with nothing of the old stream kept: over the same
  // port (virtio-serial: a restarted hostd connects to it again), or over `replacement`, a new
  // connection (a socket's end is final). The next session's hello comes from HostSession.
  void restart(std::optional<Transport> replacement);
  std::uint64_t dropped_messages() const { return dropped_messages_; }
  const protocol::DecoderStats& decoder_stats() const { return decoder_.stats(); }

 private:
  void write_pending();
  void read_available(Clock::time_point now);
  void decode_buffered();
  void accept_payload(const std::string& payload);
  void lose_host(std::string reason);
  std::optional<Clock::time_point> backoff_end() const;

  Transport transport_;
  Diagnostics& diagnostics_;
  std::string nonce_;
  bool established_ = false;

  std::deque<std::string> outbox_;
  std::size_t front_written_ = 0;  // bytes of outbox_.front() already written

  protocol::FrameDecoder decoder_;
  std::string inbox_;  // bytes read, not yet decoded
  std::deque<protocol::Message> ready_;

  // virtio-serial without a host: no polling of the port until backoff_until_.
  std::optional<Clock::time_point> backoff_until_;
  std::chrono::milliseconds backoff_{0};

  bool gone_ = false;
  std::string gone_reason_;
  bool gone_reported_ = false;
  std::uint64_t dropped_messages_ = 0;
};

}  // namespace perfkvm::guest
