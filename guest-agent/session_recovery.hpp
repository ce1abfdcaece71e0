// A new session when the host comes back mid-run: once the session is lost while the command
// runs, perfkvm tries again every second — over the same port (a restarted hostd connects to
// it again) or a new socket connection, a hello and the run's own start — and when the host
// answers, counting goes on in the new request, its counts added to the old ones and the time
// between reported as a gap (RunMonitor::resume). Until the command ends or a new session
// cannot carry the counts on (other columns, a region of interest in play).
#pragma once

#include <chrono>
#include <optional>

#include "guest-agent/diagnostics.hpp"
#include "guest-agent/host_session.hpp"
#include "guest-agent/options.hpp"
#include "guest-agent/run_monitor.hpp"
#include "protocol/messages.hpp"

namespace perfkvm::guest {

class SessionRecovery {
 public:
  // The first attempt this soon after the loss: a restarted hostd takes about that long to
  // find its domains again.
  static constexpr std::chrono::milliseconds kFirstAttempt{250};
  static constexpr std::chrono::milliseconds kBetweenAttempts{1000};
  // What one attempt may block perfkvm for (signals and the command's end wait meanwhile).
  static constexpr std::chrono::milliseconds kAttemptTimeout{300};

  SessionRecovery(HostSession& session, const ConnectOptions& connect, protocol::Start request,
                  Diagnostics& diagnostics);

  // When the next attempt is due (max: none, as nothing is lost or it cannot help).
  Clock::time_point next_attempt(const RunMonitor& monitor, Clock::time_point now);
  // One attempt if it is due; when the host answers the monitor counts again.
  void attempt_if_due(RunMonitor& monitor, Clock::time_point now);

 private:
  void attempt(RunMonitor& monitor);

  HostSession& session_;
  const ConnectOptions& connect_;
  protocol::Start request_;
  Diagnostics& diagnostics_;
  std::optional<Clock::time_point> due_;
  bool given_up_ = false;
};

}  // namespace perfkvm::guest
