// At most one log line per period for a kind of message that a peer can trigger at will (a
// guest's refused connections, a bad frame repeated): hostd's log, and journald's rate limit
// shared with every other guest's lines, stay readable. The line that is let through says how
// many were suppressed before it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace perfkvm {

class LogThrottle {
 public:
  using Clock = std::chrono::steady_clock;

  explicit LogThrottle(Clock::duration period = std::chrono::seconds(1)) : period_(period) {}

  // The suffix to log with the line (" (N similar messages suppressed)" or ""), or nullopt:
  // suppress this one.
  std::optional<std::string> admit(Clock::time_point now = Clock::now()) {
    if (logged_ && now - last_ < period_) {
      ++suppressed_;
      return std::nullopt;
    }
    std::string suffix = suppressed_ == 0 ? std::string()
                                          : " (" + std::to_string(suppressed_) +
                                                " similar messages suppressed)";
    logged_ = true;
    last_ = now;
    suppressed_ = 0;
    return suffix;
  }

 private:
  Clock::duration period_;
  bool logged_ = false;
  Clock::time_point last_{};
  std::uint64_t suppressed_ = 0;
};

}  // namespace perfkvm
