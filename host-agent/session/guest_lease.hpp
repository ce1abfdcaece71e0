// The lease (PROTOCOL.md §6.3): a session whose guest sends nothing for a lease has gone away
// (a guest program that exits just stops talking: virtio-serial gives no EOF), and its counters
// close. A paused domain is the exception: its guest cannot send anything, so while libvirt
// says it is paused the lease is held, and after it resumes the guest has a whole lease again.
#pragma once

#include <chrono>

namespace perfkvm::host {

using LeaseClock = std::chrono::steady_clock;

// Whether the domain's guest can run, as libvirt's lifecycle events tell it.
struct DomainPause {
  bool paused = false;
  LeaseClock::time_point resumed_at{};  // the last resume (the epoch if never paused)

  // Records a state libvirt reported; false if it is the state already known.
  bool set(bool now_paused, LeaseClock::time_point now);
};

// True if the guest has been silent for longer than `lease` of the time its domain ran.
bool lease_expired(LeaseClock::time_point last_heard, LeaseClock::time_point now,
                   std::chrono::milliseconds lease, const DomainPause& pause);

}  // namespace perfkvm::host
