// Every guest's counters, channels and connections are fds of this one process: hostd uses the
// whole hard limit, not the soft default, and keeps the host-wide counter budget within it.
#pragma once

#include <sys/resource.h>

#include <cstddef>
#include <optional>

namespace perfkvm::host {

// Raises the soft RLIMIT_NOFILE to the hard one; returns the soft limit now in force (nullopt
// if getrlimit fails).
std::optional<rlim_t> raise_fd_limit();

// The counter budget that fits `fd_limit` (RLIM_INFINITY: `budget` unchanged), keeping room
// for channels, vsock connections and libvirt: 1024 fds, or half of a limit of 2048 or less.
std::size_t counter_budget_for(std::size_t budget, rlim_t fd_limit);

}  // namespace perfkvm::host
