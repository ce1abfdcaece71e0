// `perfkvm-host stat DOMAIN`: count a running domain's vCPU threads from the host, with the
// same engine (Measurement) and the same perf-stat-like output as a guest's perfkvm.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "host-agent/inventory/libvirt_handles.hpp"
#include "host-agent/threads/host_paths.hpp"
#include "protocol/messages.hpp"
#include "report/formatter.hpp"

namespace perfkvm::host {

struct StatOptions {
  std::string domain;  // name or uuid
  std::vector<std::string> events;
  std::optional<std::uint32_t> interval_ms;
  std::optional<std::vector<std::uint32_t>> vcpus;
  protocol::StartMode mode = protocol::StartMode::all;
  std::optional<double> duration_s;  // none: until SIGINT/SIGTERM
  report::FormatOptions format;
};

// Counts and prints to `out`; returns the exit status. Errors are thrown as
// std::runtime_error with a message for the user.
int run_stat(virConnectPtr connection, const std::string& channel_name, const HostPaths& paths,
             const StatOptions& options, std::ostream& out);

}  // namespace perfkvm::host
