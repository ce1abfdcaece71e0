// The event catalogue with each event's status on this host, as welcome and events report
// it. Probed once at startup: whether an event opens on a thread does not change at runtime.
#pragma once

#include <vector>

#include "protocol/messages.hpp"

namespace perfkvm::host {

std::vector<protocol::EventStatus> probe_event_table();

}  // namespace perfkvm::host
