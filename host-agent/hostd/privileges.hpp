// What perfkvm-hostd needs from the host, checked at startup so that it can say exactly
// what is missing instead of failing later, session by session.
#pragma once

#include <string>
#include <vector>

namespace perfkvm::host {

// Problems that stop counting on other users' threads: neither CAP_PERFMON nor CAP_SYS_ADMIN
// in the effective set (being root is not enough without them), with perf_event_paranoid's
// value. Empty if fine.
std::vector<std::string> perf_privilege_problems();

}  // namespace perfkvm::host
