// What all guest sessions together have done, for hostd's own health metrics (the export's
// perfkvm_hostd_* families). Shared like the counter budget: every copy of a SessionConfig
// counts into the same object. Plain counters: hostd runs on one thread.
#pragma once

#include <cstdint>
#include <map>

#include "protocol/messages.hpp"

namespace perfkvm::host {

struct SessionStats {
  std::uint64_t sessions_active = 0;    // guest sessions open now, on every channel
  std::uint64_t sessions_started = 0;   // hellos welcomed
  std::uint64_t requests_started = 0;   // starts admitted (counters opened)
  std::uint64_t samples_sent = 0;       // samples written or queued for a guest
  std::uint64_t samples_dropped = 0;    // samples a guest that did not read never got
  std::uint64_t frames_discarded = 0;   // frames larger than the frame limit
  std::uint64_t bytes_discarded = 0;    // bytes that were not part of a whole frame
  std::map<protocol::ErrorCode, std::uint64_t> errors_sent;  // error messages, by code
};

}  // namespace perfkvm::host
