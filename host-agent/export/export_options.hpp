// What perfkvm-hostd's Prometheus export counts and where it serves it (--metrics-*). Off
// unless --metrics-listen is given.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "protocol/messages.hpp"

namespace perfkvm::host {

struct ExportOptions {
  std::string listen;               // --metrics-listen ADDR:PORT; empty: no endpoint
  std::vector<std::string> events;  // --metrics-events, as spelt; empty: default_export_events
  protocol::StartMode mode = protocol::StartMode::all;  // --metrics-mode
  // Counters are read when a scrape comes, at most this often; a burst of scrapes is served
  // from the last read.
  std::chrono::milliseconds min_read_interval{1000};
  std::string tls_cert;   // --metrics-tls-cert: HTTPS when set (with tls_key)
  std::string tls_key;    // --metrics-tls-key
  std::string client_ca;  // --metrics-client-ca: clients must present a certificate it signed

  bool enabled() const { return !listen.empty(); }
};

// The events exported without --metrics-events: task-clock, context-switches, cpu-migrations,
// page-faults, and the common hardware events where `event_table` (the host's probe) says they
// can be counted.
std::vector<std::string> default_export_events(const std::vector<protocol::EventStatus>& event_table);

}  // namespace perfkvm::host
