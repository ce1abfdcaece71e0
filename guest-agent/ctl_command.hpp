// `perfkvm ctl enable|disable|mark NAME`: run by the workload (or its scripts) inside a
// perfkvm run, it asks that perfkvm, through the endpoint PERFKVM_CTL names, to switch
// counting on or off or to start a phase, and returns once the host's snapshot for it is
// taken (exit 0), or says why not (exit 1).
#pragma once

#include <iosfwd>

#include "guest-agent/control_line.hpp"

namespace perfkvm::guest {

struct CtlOptions {
  ControlRequest request;
  double timeout_s = 5;  // --timeout: the longest wait for the answer
};

int run_ctl(const CtlOptions& options, std::ostream& err);

}  // namespace perfkvm::guest
