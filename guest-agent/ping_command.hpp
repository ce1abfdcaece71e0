// `perfkvm ping`: how long perfkvm-hostd takes to answer, from inside this guest. Like ping(8)
// for the perfkvm channel: N keepalives echoed by hostd (the channel's round trip with the
// protocol but no counters: the floor), then N start -> started requests (each stopped again),
// with the median, p99, min and max of each.
#pragma once

#include <cstddef>
#include <ostream>
#include <string>
#include <vector>

#include "guest-agent/diagnostics.hpp"
#include "guest-agent/options.hpp"

namespace perfkvm::guest {

// Round-trip times of one kind, in microseconds, in the order measured.
struct RoundTrips {
  std::vector<double> us;

  // Nearest-rank percentile (p in (0, 100]) of the times; 0 when there are none.
  double percentile(double p) const;
  double min() const;
  double max() const;
};

struct PingFigures {
  std::string target;     // "VM 'web1' (2 vCPUs)"
  std::string transport;  // "/dev/virtio-ports/org.perfkvm.0"
  std::vector<std::string> events;
  RoundTrips keepalive;   // keepalive -> keepalive
  RoundTrips start;       // start -> started
  std::size_t rate_limited = 0;  // starts the host asked to repeat later (not timed)
};

// The human summary, or one JSON object with --json.
std::string format_ping(const PingFigures& figures, bool json);

int run_ping(const PingOptions& options, std::ostream& out, Diagnostics& diagnostics);

}  // namespace perfkvm::guest
