// The request/answer steps of a session with perfkvm-hostd (PROTOCOL.md §6.5): hello until a
// welcome, list-events, start until started. Each waits at most the --timeout and throws
// GuestError with a message naming the fix. What happens while the command runs is
// RunMonitor's business.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "guest-agent/diagnostics.hpp"
#include "guest-agent/host_link.hpp"
#include "protocol/messages.hpp"

namespace perfkvm::guest {

class HostSession {
 public:
  // `timeout_text` is the timeout as the user gave it, for messages ("5 s").
  HostSession(HostLink& link, std::chrono::milliseconds timeout, std::string timeout_text);

  // hello -> welcome. Without an answer, says hello again with a fresh nonce after 1 s, then
  // 2 s, ... (the host may not be connected to the port yet), until the timeout.
  const protocol::Welcome& open();
  // The same within `timeout` rather than --timeout: one attempt at a new session mid-run.
  const protocol::Welcome& open(std::chrono::milliseconds timeout);

  // list-events -> events: the host's events for this VM, as they are now.
  std::vector<protocol::EventStatus> list_events();

  // start -> started. `request.nonce` and `request.request_id` are filled in. A start the
  // host asks to repeat later (rate-limited) is repeated after the wait it names.
  protocol::Started start(protocol::Start request);
  protocol::Started start(protocol::Start request, std::chrono::milliseconds timeout);

  // One start -> started before `deadline`; or, when the host asks to repeat it later and the
  // wait ends before the deadline, that wait. Throws GuestError for any other refusal.
  std::variant<protocol::Started, std::chrono::milliseconds> try_start(protocol::Start request,
                                                                       Clock::time_point deadline);
  // Waits until `until`, dropping what the host sends meanwhile; throws if the host goes.
  void pause_until(Clock::time_point until);

  // The next message of the session before the deadline; throws GuestError on timeout or
  // host loss, naming `waiting_for`.
  protocol::Message next_message(Clock::time_point deadline, const std::string& waiting_for);

  void send(protocol::Message message);  // with this session's nonce filled in
  std::uint64_t request_id() const { return request_id_; }
  const protocol::Welcome& welcome() const { return welcome_; }
  HostLink& link() { return link_; }

  // Keepalives well inside the lease (§6.3): a third of it, as the protocol recommends, but
  // never more often than every kMinKeepalivePeriod.
  static constexpr std::chrono::milliseconds kMinKeepalivePeriod{10};
  std::chrono::milliseconds keepalive_period() const;

 private:
  [[noreturn]] void refused(const protocol::Error& error, const std::string& what);

  HostLink& link_;
  std::chrono::milliseconds timeout_;
  std::string timeout_text_;
  protocol::Welcome welcome_;
  std::uint64_t request_id_ = 0;
};

}  // namespace perfkvm::guest
