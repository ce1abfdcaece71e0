// `perfkvm-host stat DOMAIN`: count a running domain's vCPU threads from the host, with the
// same engine as guest sessions (host-agent/counters: Measurement, the sampling loop) and the
// same perf-stat-like output as a guest's perfkvm.
#pragma once

#include <optional>
#include <ostream>
#include <string>

#include "cli/count_options.hpp"
#include "host-agent/libvirt/handles.hpp"
#include "host-agent/threads/host_paths.hpp"

namespace perfkvm::host {

// What to count and how to print it, as perfkvm's (the same options), plus which domain and
// for how long. output_path (-o FILE) is for the caller, who opens it and passes it as `out`.
struct StatOptions : cli::CountOptions {
  std::string domain;                // name or uuid
  std::optional<double> duration_s;  // none: until SIGINT/SIGTERM
};

// Counts and prints to `out`; returns the exit status. Errors are thrown as
// std::runtime_error with a message for the user.
int run_stat(virConnectPtr connection, const std::string& channel_name, const HostPaths& paths,
             const StatOptions& options, std::ostream& out);

}  // namespace perfkvm::host
