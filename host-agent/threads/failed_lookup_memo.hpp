// A domain's failed vCPU thread lookup, remembered for a moment. Without the QEMU pid file a
// lookup scans the command line of every process on the host, and each read of
// /proc/<pid>/cmdline may wait on that process's memory-map lock; a guest can ask for a lookup
// at every start of a domain that is not (or no longer) countable. Remembering the failure
// for a second bounds the scans one domain's guests cause to one a second, whatever the start
// rate; a lookup that found threads is never remembered (threads come and go: hotplug).
#pragma once

#include <chrono>
#include <optional>

#include "host-agent/threads/vcpu_threads.hpp"

namespace perfkvm::host {

class FailedLookupMemo {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr Clock::duration kMemory = std::chrono::seconds(1);

  // The failure remembered at `now`, if any.
  std::optional<VcpuResolution> recall(Clock::time_point now) const {
    if (failure_ && now - failed_at_ < kMemory) return failure_;
    return std::nullopt;
  }
  // A lookup's result at `now`: remembered if it found no threads, and forgotten otherwise.
  void record(const VcpuResolution& resolution, Clock::time_point now) {
    if (resolution.threads.empty()) {
      failure_ = resolution;
      failed_at_ = now;
    } else {
      failure_.reset();
    }
  }

 private:
  std::optional<VcpuResolution> failure_;
  Clock::time_point failed_at_;
};

}  // namespace perfkvm::host
