// Serves the perfkvm protocol on one channel: a domain's virtio-serial socket, or one vsock
// connection. The transport is only a stream socket here, so this code does not know which
// it is on. Three coroutines share the channel: the reader (frames -> handlers), the writer
// (the bounded outbox -> socket) and the lease watch; samplers run while a request counts.
// What a start may count is admission's (admission.hpp); this keeps the I/O, the session's
// state machine (PROTOCOL.md §6.1) and the counter budgets; the start pacing is the domain's
// (start_budget.hpp).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "host-agent/session/counting_request.hpp"
#include "host-agent/session/domain_context.hpp"
#include "host-agent/session/outbox.hpp"
#include "host-agent/session/session_config.hpp"
#include "protocol/codec.hpp"

namespace perfkvm::host {

using ChannelSocket = boost::asio::generic::stream_protocol::socket;

// A virtio-serial channel outlives guest programs: it stays open with or without a session.
// A vsock connection is one guest program's: it is closed when refused, or idle without a
// session for a lease, so that connections cannot pile up.
enum class ChannelKind { persistent, per_connection };

class ChannelConnection : public std::enable_shared_from_this<ChannelConnection> {
 public:
  // `event_table`: the catalogue with each event's status on this host (welcome, events).
  // `label` names the channel in logs, e.g. "domain 'web1' virtio-serial".
  ChannelConnection(ChannelSocket socket, std::shared_ptr<DomainContext> domain,
                    const SessionConfig& config,
                    const std::vector<protocol::EventStatus>& event_table, std::string label,
                    ChannelKind kind = ChannelKind::persistent);
  ~ChannelConnection();
  ChannelConnection(const ChannelConnection&) = delete;
  ChannelConnection& operator=(const ChannelConnection&) = delete;

  // Serves until the peer closes the channel, I/O fails, or the coroutine is cancelled;
  // then closes the session's counters. Call through co_spawn on the socket's executor.
  boost::asio::awaitable<void> run();

  // Closes the socket: run() ends soon after (e.g. the domain stopped).
  void close();

  // The domain's policy changed (session_policy.hpp's change_policy calls it): a running
  // request the new policy does not allow ends with not-permitted and its report.
  void policy_changed();

  bool has_session() const { return session_.has_value(); }
  bool counting() const { return request_ != nullptr; }
  std::size_t open_counter_fds() const;
  const protocol::DecoderStats& decoder_stats() const { return decoder_.stats(); }
  const std::string& label() const { return label_; }
  const DomainContext& domain() const { return *domain_; }

  // Test seam: when set, the sampler calls it before each reading, and what it throws is
  // handled as counters that cannot be read (report reason error). hostd never sets it.
  void set_sample_hook_for_testing(std::function<void()> hook) { sample_hook_ = std::move(hook); }

 private:
  struct GuestSession {
    std::string nonce;
    std::uint32_t protocol = 0;
  };

  boost::asio::awaitable<void> read_loop();
  boost::asio::awaitable<void> write_loop();
  boost::asio::awaitable<void> lease_loop();
  boost::asio::awaitable<void> sample_loop(std::shared_ptr<CountingRequest> request);

  void on_payload(protocol::ParseResult parsed);
  void on_message(const protocol::Hello& hello);
  void on_message(const protocol::Start& start);
  void on_message(const protocol::Stop& stop);
  void on_message(const protocol::Read& read);
  void on_message(const protocol::Keepalive& keepalive);
  void on_message(const protocol::ListEvents& list);
  void on_message(const protocol::Error& error);
  template <class HostToGuest>
  void on_message(const HostToGuest& message);

  // True if the message belongs to the current session; otherwise answers no-session.
  bool check_session(const std::string& nonce, std::optional<std::uint64_t> request_id);
  // True if `request_id` is the running request; otherwise answers unknown-request.
  bool check_running(const std::string& nonce, std::uint64_t request_id);
  void start_counting(const protocol::Start& start);
  void finish_request(protocol::EndReason reason);
  void end_session(std::optional<protocol::ErrorCode> notify, const std::string& why);
  // A per-connection channel that refused its guest: close once the refusal is written.
  void refuse_connection();
  void send_error(const std::string& nonce, std::optional<std::uint64_t> request_id,
                  protocol::ErrorCode code, const std::string& message,
                  std::optional<std::uint32_t> retry_after_ms = std::nullopt);
  bool send(const protocol::Message& message, Outbox::Kind kind);

  ChannelSocket socket_;
  std::shared_ptr<DomainContext> domain_;
  const SessionConfig& config_;
  // Its own share of the statistics: the destructor counts the session out, and may run after
  // the configuration is gone (when its io_context is destroyed last).
  std::shared_ptr<SessionStats> stats_;
  const std::vector<protocol::EventStatus>& event_table_;
  std::string label_;
  ChannelKind kind_;
  bool close_after_flush_ = false;
  std::chrono::steady_clock::time_point idle_since_;

  protocol::FrameDecoder decoder_;
  Outbox outbox_;
  boost::asio::steady_timer outbox_ready_;  // cancelled to wake the writer
  boost::asio::steady_timer lease_timer_;
  std::uint64_t dropped_replies_ = 0;  // this session's, logged at its end
  std::chrono::steady_clock::time_point last_heard_;
  std::optional<GuestSession> session_;
  std::shared_ptr<CountingRequest> request_;
  std::function<void()> sample_hook_;
};

}  // namespace perfkvm::host
