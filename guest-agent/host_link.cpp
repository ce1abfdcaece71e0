#include "guest-agent/host_link.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "guest-agent/link_end.hpp"
#include "protocol/codec.hpp"

namespace perfkvm::guest {

namespace {

constexpr std::chrono::milliseconds kFirstBackoff{10};
// Also the longest delay in noticing that a host connected to the port.
constexpr std::chrono::milliseconds kLongestBackoff{250};

bool is_guest_to_host(const protocol::Message& message) {
  return std::holds_alternative<protocol::Hello>(message) ||
         std::holds_alternative<protocol::Start>(message) ||
         std::holds_alternative<protocol::Stop>(message) ||
         std::holds_alternative<protocol::ListEvents>(message);
}

int poll_timeout_ms(Clock::time_point now, Clock::time_point wake) {
  if (wake <= now) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(wake - now).count();
  return static_cast<int>(std::min<std::int64_t>(ms, 3'600'000));
}

}  // namespace

HostLink::HostLink(Transport transport, Diagnostics& diagnostics)
    : transport_(std::move(transport)), diagnostics_(diagnostics) {}

void HostLink::send(const protocol::Message& message) {
  if (gone_) return;
  outbox_.push_back(protocol::encode_message(message));
  diagnostics_.debug("sending '" + std::string(protocol::type_name(message)) + "' over " +
                     transport_.description());
  write_pending();
}

void HostLink::drop_unsent() {
  // A frame cut in the middle would make the host drop the next one too; finish it.
  const std::size_t keep = front_written_ > 0 ? 1 : 0;
  while (outbox_.size() > keep) outbox_.pop_back();
}

void HostLink::write_pending() {
  while (!gone_ && !outbox_.empty()) {
    const std::string_view rest = std::string_view(outbox_.front()).substr(front_written_);
    const auto written = transport_.write_some(rest);
    if (written < 0) {
      lose_host(describe_link_end(transport_.kind(), LinkEnd::write_error,
                                  transport_.error_number(), transport_.description()));
      return;
    }
    if (written == 0) return;
    front_written_ += static_cast<std::size_t>(written);
    if (front_written_ == outbox_.front().size()) {
      outbox_.pop_front();
      front_written_ = 0;
    }
  }
}

void HostLink::read_available(Clock::time_point now) {
  // Bounded, so that a host flooding the port cannot starve the rest of the loop.
  for (int round = 0; round < 16 && !gone_; ++round) {
    switch (transport_.read_some(inbox_)) {
      case Transport::ReadResult::data:
        backoff_ = std::chrono::milliseconds{0};
        backoff_until_.reset();
        decode_buffered();
        continue;
      case Transport::ReadResult::nothing:
        return;
      case Transport::ReadResult::eof:
        // A partial frame can only be completed by the same connection.
        decoder_.reset();
        if (transport_.eof_is_final() || established_) {
          lose_host(describe_link_end(transport_.kind(), LinkEnd::eof, 0,
                                      transport_.description()));
        } else {
          backoff_ = std::clamp(backoff_ * 2, kFirstBackoff, kLongestBackoff);
          backoff_until_ = now + backoff_;
        }
        return;
      case Transport::ReadResult::error:
        lose_host(describe_link_end(transport_.kind(), LinkEnd::read_error,
                                    transport_.error_number(), transport_.description()));
        return;
    }
  }
}

void HostLink::decode_buffered() {
  std::string_view rest = inbox_;
  while (auto payload = decoder_.next(rest)) accept_payload(*payload);
  inbox_.clear();  // the decoder keeps any partial frame itself
}

void HostLink::accept_payload(const std::string& payload) {
  auto parsed = protocol::parse_message(payload);
  if (const auto* error = std::get_if<protocol::ParseError>(&parsed)) {
    ++dropped_messages_;
    diagnostics_.debug("dropped an invalid message from the host: " + error->message);
    return;
  }
  auto& message = std::get<protocol::Message>(parsed);
  const std::string type(protocol::type_name(message));
  if (is_guest_to_host(message)) {
    ++dropped_messages_;
    diagnostics_.debug("dropped a '" + type + "' from the host: not a host-to-guest message");
    return;
  }
  if (!protocol::belongs_to_session(message, nonce_)) {
    ++dropped_messages_;
    const auto* error = std::get_if<protocol::Error>(&message);
    if (error && error->nonce.empty()) {
      // §3.3: an error about a frame without a readable nonce cannot be attributed.
      diagnostics_.debug("perfkvm-hostd could not read some frame: " +
                         std::string(protocol::to_string(error->code)) + ": " + error->message);
    } else {
      diagnostics_.debug("dropped a message of another session: '" + type + "' (nonce '" +
                         protocol::nonce_of(message) + "')");
    }
    return;
  }
  ready_.push_back(std::move(message));
}

void HostLink::restart(std::optional<Transport> replacement) {
  if (replacement) transport_ = std::move(*replacement);
  gone_ = false;
  gone_reported_ = false;
  gone_reason_.clear();
  established_ = false;
  outbox_.clear();
  front_written_ = 0;
  decoder_.reset();
  inbox_.clear();
  ready_.clear();
  backoff_ = std::chrono::milliseconds{0};
  backoff_until_.reset();
}

void HostLink::lose_host(std::string reason) {
  gone_ = true;
  gone_reason_ = std::move(reason);
  outbox_.clear();
  front_written_ = 0;
  decoder_.reset();
  backoff_until_.reset();
}

LinkEvent HostLink::wait(Clock::time_point deadline, int extra_fd) {
  for (;;) {
    if (!ready_.empty()) {
      LinkEvent event{LinkEvent::Kind::message, std::move(ready_.front()), {}};
      ready_.pop_front();
      return event;
    }
    if (gone_ && !gone_reported_) {
      gone_reported_ = true;
      return LinkEvent{LinkEvent::Kind::host_gone, {}, gone_reason_};
    }
    write_pending();
    const auto now = Clock::now();
    if (backoff_until_ && now >= *backoff_until_) {
      backoff_until_.reset();
      read_available(now);
      continue;
    }
    pollfd fds[2];
    nfds_t count = 0;
    int transport_index = -1;
    int extra_index = -1;
    if (!gone_ && !backoff_until_) {
      const short events = static_cast<short>(POLLIN | (outbox_.empty() ? 0 : POLLOUT));
      fds[count] = pollfd{transport_.fd(), events, 0};
      transport_index = static_cast<int>(count++);
    }
    if (extra_fd >= 0) {
      fds[count] = pollfd{extra_fd, POLLIN, 0};
      extra_index = static_cast<int>(count++);
    }
    const auto wake = backoff_until_ ? std::min(deadline, *backoff_until_) : deadline;
    if (::poll(fds, count, poll_timeout_ms(now, wake)) < 0) {
      if (errno == EINTR) continue;
      throw GuestError(std::string("poll failed: ") + std::strerror(errno));
    }
    if (transport_index >= 0) {
      const short revents = fds[transport_index].revents;
      if (revents & (POLLIN | POLLHUP | POLLERR)) read_available(Clock::now());
      if (revents & POLLOUT) write_pending();
    }
    if (extra_index >= 0 && (fds[extra_index].revents & POLLIN)) {
      return LinkEvent{LinkEvent::Kind::extra_fd, {}, {}};
    }
    // Checked after a poll, also one of no time at all: what has arrived by the deadline comes
    // first. After a pause (the VM's, or perfkvm's own SIGSTOP) every deadline has passed, and
    // a timeout handled before the messages waiting would look like a silent host.
    if (ready_.empty() && !(gone_ && !gone_reported_) && Clock::now() >= deadline) {
      return LinkEvent{LinkEvent::Kind::timeout, {}, {}};
    }
  }
}

}  // namespace perfkvm::guest
