#include "host-agent/hostd/fd_limit.hpp"

#include <algorithm>

namespace perfkvm::host {

std::optional<rlim_t> raise_fd_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return std::nullopt;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return std::nullopt;
  }
  return limit.rlim_cur;
}

std::size_t counter_budget_for(std::size_t budget, rlim_t fd_limit) {
  if (fd_limit == RLIM_INFINITY) return budget;
  constexpr rlim_t kReserved = 1024;
  const rlim_t reserved = fd_limit > 2 * kReserved ? kReserved : fd_limit / 2;
  return std::min<std::size_t>(budget, static_cast<std::size_t>(fd_limit - reserved));
}

}  // namespace perfkvm::host
