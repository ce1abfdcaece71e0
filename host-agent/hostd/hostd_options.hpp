// perfkvm-hostd's command line.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "host-agent/export/export_options.hpp"
#include "host-agent/session/session_config.hpp"
#include "host-agent/threads/host_paths.hpp"
#include "protocol/defaults.hpp"
#include "util/log.hpp"

namespace perfkvm::host {

struct HostdOptions {
  std::string uri = "qemu:///system";
  std::string channel_name{protocol::kChannelName};
  std::uint32_t vsock_port = protocol::kVsockPort;
  bool vsock = true;
  SessionConfig session;
  ExportOptions metrics;  // --metrics-*: the Prometheus endpoint
  HostPaths paths;
  log::Level log_level = log::Level::info;
};

// Binds the options to `app`; after app.parse(...) `options` holds the values.
void add_hostd_options(CLI::App& app, HostdOptions& options);

}  // namespace perfkvm::host
