#include "guest-agent/host_session.hpp"

#include <algorithm>
#include <optional>

#include "guest-agent/nonce.hpp"
#include "perfkvm_config.hpp"

namespace perfkvm::guest {

namespace {

constexpr std::chrono::milliseconds kFirstHelloRetry{1000};

std::string our_versions() {
  return std::to_string(protocol::kMinProtocolVersion) + " to " +
         std::to_string(protocol::kProtocolVersion);
}

const std::string kMatchFix = "install matching versions of perfkvm and perfkvm-hostd";

}  // namespace

HostSession::HostSession(HostLink& link, std::chrono::milliseconds timeout,
                         std::string timeout_text)
    : link_(link), timeout_(timeout), timeout_text_(std::move(timeout_text)) {}

void HostSession::send(protocol::Message message) {
  std::visit([&](auto& typed) { typed.nonce = link_.nonce(); }, message);
  link_.send(message);
}

void HostSession::refused(const protocol::Error& error, const std::string& what) {
  if (error.code == protocol::ErrorCode::unsupported_version) {
    throw GuestError("perfkvm-hostd does not speak this perfkvm's protocol (versions " +
                     our_versions() + "): " + error.message + "; " + kMatchFix);
  }
  throw GuestError("perfkvm-hostd refused " + what + ": " +
                   std::string(protocol::to_string(error.code)) + ": " + error.message);
}

const protocol::Welcome& HostSession::open() { return open(timeout_); }

const protocol::Welcome& HostSession::open(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  auto retry = kFirstHelloRetry;
  for (;;) {
    // A fresh nonce per hello: answers to an abandoned hello are then dropped as stale.
    const std::string nonce = random_nonce();
    link_.drop_unsent();
    link_.expect_nonce(nonce);
    link_.send(protocol::Hello{nonce, protocol::kMinProtocolVersion, protocol::kProtocolVersion,
                               "perfkvm", PERFKVM_VERSION});
    const auto attempt_end = std::min(deadline, Clock::now() + retry);
    retry *= 2;
    for (;;) {
      auto event = link_.wait(attempt_end);
      if (event.kind == LinkEvent::Kind::timeout) break;
      if (event.kind == LinkEvent::Kind::host_gone) {
        throw GuestError(event.reason + " before answering hello (over " +
                         link_.transport().description() + ")");
      }
      if (auto* welcome = std::get_if<protocol::Welcome>(&event.message)) {
        if (welcome->protocol < protocol::kMinProtocolVersion ||
            welcome->protocol > protocol::kProtocolVersion) {
          throw GuestError("perfkvm-hostd chose protocol version " +
                           std::to_string(welcome->protocol) + ", but this perfkvm speaks " +
                           our_versions() + "; " + kMatchFix);
        }
        welcome_ = std::move(*welcome);
        link_.set_session_established();
        return welcome_;
      }
      if (const auto* error = std::get_if<protocol::Error>(&event.message)) {
        refused(*error, "the session");
      }
    }
    if (Clock::now() >= deadline) {
      throw GuestError("no answer from perfkvm-hostd on the host within " + timeout_text_ +
                       " over " + link_.transport().description() +
                       ": is perfkvm-hostd running on the host, and does this domain's XML "
                       "have the perfkvm channel? (see xml/ in perfkvm)");
    }
  }
}

protocol::Message HostSession::next_message(Clock::time_point deadline,
                                            const std::string& waiting_for) {
  auto event = link_.wait(deadline);
  switch (event.kind) {
    case LinkEvent::Kind::message:
      return std::move(event.message);
    case LinkEvent::Kind::host_gone:
      throw GuestError(event.reason + " while perfkvm waited for its answer to '" + waiting_for +
                       "'");
    default:
      throw GuestError("no answer to '" + waiting_for + "' from perfkvm-hostd within " +
                       timeout_text_ + " over " + link_.transport().description());
  }
}

std::vector<protocol::EventStatus> HostSession::list_events() {
  send(protocol::ListEvents{});
  const auto deadline = Clock::now() + timeout_;
  for (;;) {
    auto message = next_message(deadline, "list-events");
    if (auto* events = std::get_if<protocol::Events>(&message)) return std::move(events->events);
    if (const auto* error = std::get_if<protocol::Error>(&message)) {
      refused(*error, "to list its events");
    }
  }
}

std::variant<protocol::Started, std::chrono::milliseconds> HostSession::try_start(
    protocol::Start request, Clock::time_point deadline) {
  request.request_id = ++request_id_;
  send(request);
  for (;;) {
    auto message = next_message(deadline, "start");
    if (auto* started = std::get_if<protocol::Started>(&message);
        started && started->request_id == request_id_) {
      return std::move(*started);
    }
    const auto* error = std::get_if<protocol::Error>(&message);
    if (!error || error->request_id.value_or(request_id_) != request_id_) continue;
    // Another program in this VM has just started many requests: wait as the host asks,
    // within this perfkvm's own timeout, then ask again.
    if (error->code == protocol::ErrorCode::rate_limited && error->retry_after_ms &&
        Clock::now() + std::chrono::milliseconds(*error->retry_after_ms) < deadline) {
      return std::chrono::milliseconds(*error->retry_after_ms);
    }
    refused(*error, "to start counting");
  }
}

void HostSession::pause_until(Clock::time_point until) {
  while (Clock::now() < until) {
    auto event = link_.wait(until);  // stale frames of earlier requests are dropped
    if (event.kind == LinkEvent::Kind::host_gone) {
      throw GuestError(event.reason + " while perfkvm waited to start counting again");
    }
  }
}

protocol::Started HostSession::start(protocol::Start request) {
  return start(std::move(request), timeout_);
}

protocol::Started HostSession::start(protocol::Start request, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    auto answer = try_start(request, deadline);
    if (auto* started = std::get_if<protocol::Started>(&answer)) return std::move(*started);
    pause_until(Clock::now() + std::get<std::chrono::milliseconds>(answer));
  }
}

std::chrono::milliseconds HostSession::keepalive_period() const {
  // Floored: a host announcing a lease of a few ms must not make perfkvm spin on keepalives
  // (hostd's own lease is at least 100 ms).
  return std::max(std::chrono::milliseconds(welcome_.limits.lease_ms / 3), kMinKeepalivePeriod);
}

}  // namespace perfkvm::guest
