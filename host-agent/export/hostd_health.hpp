// hostd's own state, as the perfkvm_hostd_* families report it.
#pragma once

#include <cstdint>
#include <string>

#include "host-agent/session/session_stats.hpp"

namespace perfkvm::host {

struct HostdHealth {
  std::string version;
  SessionStats sessions;
  std::uint64_t counters_open = 0;   // perf counters of the host-wide budget in use (guests and export)
  std::uint64_t counters_limit = 0;  // --max-host-counters, as lowered to the fd limit
  bool libvirt_connected = false;
  std::uint64_t libvirt_connects = 0;  // successful connections; the first is not a reconnect
  std::uint64_t domains_running = 0;
  std::uint64_t scrape_reads = 0;  // reads of every domain's counters a scrape caused
};

}  // namespace perfkvm::host
