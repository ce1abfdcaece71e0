#include "host-agent/session/guest_lease.hpp"

#include <algorithm>

namespace perfkvm::host {

bool DomainPause::set(bool now_paused, LeaseClock::time_point now) {
  if (now_paused == paused) return false;
  paused = now_paused;
  if (!paused) resumed_at = now;
  return true;
}

bool lease_expired(LeaseClock::time_point last_heard, LeaseClock::time_point now,
                   std::chrono::milliseconds lease, const DomainPause& pause) {
  if (pause.paused) return false;
  // Silence from before a pause does not count: the guest's last keepalive may have been due
  // just when the domain stopped running.
  return now - std::max(last_heard, pause.resumed_at) > lease;
}

}  // namespace perfkvm::host
