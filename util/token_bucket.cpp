#include "util/token_bucket.hpp"

#include <algorithm>

namespace perfkvm {

TokenBucket::TokenBucket(std::uint32_t per_second, Clock::time_point now, std::uint32_t burst)
    : per_second_(std::max<std::uint32_t>(per_second, 1)),
      burst_(burst > 0 ? burst : per_second_),
      tokens_(burst_),
      last_(now) {}

double TokenBucket::tokens_at(Clock::time_point now) const {
  const double elapsed = std::chrono::duration<double>(std::max(now - last_, Clock::duration{0})).count();
  return std::min(burst_, tokens_ + elapsed * per_second_);
}

TokenBucket::Clock::duration TokenBucket::delay(Clock::time_point now, double cost) const {
  const double missing = std::min(cost, burst_) - tokens_at(now);
  if (missing <= 0) return Clock::duration::zero();
  return std::chrono::ceil<Clock::duration>(std::chrono::duration<double>(missing / per_second_));
}

void TokenBucket::record(Clock::time_point now, double cost) {
  // May go below zero only if a caller skipped delay().
  tokens_ = tokens_at(now) - std::min(cost, burst_);
  last_ = std::max(now, last_);
}

}  // namespace perfkvm
