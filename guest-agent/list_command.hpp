// `perfkvm list`: the events perfkvm-hostd offers for this VM and whether the host can count
// them, one per line as `perf list` prints them.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "guest-agent/diagnostics.hpp"
#include "guest-agent/options.hpp"
#include "protocol/messages.hpp"

namespace perfkvm::guest {

// Returns the exit status (0). Throws GuestError when the host cannot be reached.
int run_list(const ListOptions& options, std::ostream& out, Diagnostics& diagnostics);

// "  cpu-cycles OR cycles   [Hardware event] <not supported> (no hardware PMU ...)" lines
// under a title naming the VM.
std::string format_event_list(const std::vector<protocol::EventStatus>& events,
                              const protocol::Welcome& welcome);

}  // namespace perfkvm::guest
