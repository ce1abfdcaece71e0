#include "guest-agent/session_recovery.hpp"

#include "guest-agent/transport.hpp"

namespace perfkvm::guest {

SessionRecovery::SessionRecovery(HostSession& session, const ConnectOptions& connect,
                                 protocol::Start request, Diagnostics& diagnostics)
    : session_(session), connect_(connect), request_(std::move(request)),
      diagnostics_(diagnostics) {}

Clock::time_point SessionRecovery::next_attempt(const RunMonitor& monitor, Clock::time_point now) {
  if (given_up_ || !monitor.lost()) {
    due_.reset();
    return Clock::time_point::max();
  }
  if (!monitor.resumable()) {
    given_up_ = true;
    diagnostics_.note("no new session for this run: its region of interest (-D, perfkvm ctl) "
                      "is a reading of the lost session's counters");
    return Clock::time_point::max();
  }
  if (!due_) due_ = now + kFirstAttempt;
  return *due_;
}

void SessionRecovery::attempt_if_due(RunMonitor& monitor, Clock::time_point now) {
  if (next_attempt(monitor, now) > now) return;
  attempt(monitor);
  due_ = Clock::now() + kBetweenAttempts;
}

void SessionRecovery::attempt(RunMonitor& monitor) {
  HostLink& link = session_.link();
  try {
    if (link.host_gone()) {
      const Transport& lost = link.transport();
      const bool port = lost.kind() == TransportKind::virtio_serial;
      if (port && lost.error_number() == 0) {
        // The port's end-of-file: hostd went, the port stays, and a restarted hostd connects
        // to its other end.
        link.restart(std::nullopt);
      } else {
        // A socket's end is final, and an unplugged port is gone (a re-plugged one is a new
        // device): a new connection of the same kind, never a vsock connect in place of a
        // missing port, and within the attempt's time.
        ConnectOptions again = connect_;
        if (port && !again.device) again.device = std::string(kDefaultPortPath);
        again.timeout_s = std::chrono::duration<double>(kAttemptTimeout).count();
        link.restart(open_transport(again));
      }
    }
    session_.open(kAttemptTimeout);
    protocol::Started started = session_.start(request_, kAttemptTimeout);
    const std::uint64_t request_id = started.request_id;
    const std::string refused = monitor.resume(std::move(started), Clock::now());
    if (refused.empty()) return;
    given_up_ = true;
    protocol::Stop stop;
    stop.request_id = request_id;
    session_.send(stop);  // its counters close at once rather than at the lease
    diagnostics_.warning("a new session with perfkvm-hostd cannot carry this run's counts on: " +
                         refused);
  } catch (const GuestError& error) {
    diagnostics_.debug(std::string("no new session with perfkvm-hostd yet: ") + error.what());
  }
}

}  // namespace perfkvm::guest
