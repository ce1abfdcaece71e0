// The host's limits for guest sessions, all configurable on perfkvm-hostd's command line and
// announced to the guest in welcome.limits.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "host-agent/policy/effective_policy.hpp"
#include "host-agent/session/counter_budget.hpp"
#include "host-agent/session/session_stats.hpp"
#include "protocol/frame.hpp"
#include "protocol/messages.hpp"

namespace perfkvm::host {

struct SessionConfig {
  std::uint32_t min_interval_ms = 10;       // shortest sample interval (>= 1)
  std::uint32_t max_events = 32;            // events per start request
  std::uint32_t max_sessions = 4;           // concurrent sessions per domain
  std::uint32_t max_frame_bytes = protocol::kDefaultMaxPayload;
  std::uint32_t lease_ms = 10'000;          // silence after which a session's counters close
  // perf fds one request may open (columns x vCPU threads): every fd hostd holds is shared by
  // all guests, so one guest must not be able to take them all.
  std::uint32_t max_counters = 4096;
  // perf fds all running requests together may hold (perfkvm-hostd --max-host-counters).
  // Shared: every copy of this configuration draws on the same budget.
  std::shared_ptr<CounterBudget> host_counters = std::make_shared<CounterBudget>(65'536);
  // perf fds one domain's running requests together may hold (--max-domain-counters): a share
  // of the host-wide budget, so that a few large guests cannot take it all from the rest.
  std::uint32_t max_domain_counters = 8192;
  // Counter reads a second one domain's sampling requests together may cost
  // (--max-counter-reads): columns x vCPUs x samples a second.
  std::uint32_t max_domain_reads_per_second = 200'000;
  // What every session did, counted into one object (the export's hostd health families).
  std::shared_ptr<SessionStats> stats = std::make_shared<SessionStats>();
  // Per domain, over all of its channels (start_budget.hpp); faster starts are refused with
  // rate-limited and when to retry.
  std::uint32_t max_starts_per_second = 20;
  std::uint32_t max_counter_opens_per_second = 4096;  // columns x vCPUs of the starts admitted
  std::size_t max_queued_samples = 8;       // samples waiting for a slow guest; more are dropped
  std::size_t max_queued_replies = 64;      // other frames waiting; more are dropped and logged
  std::size_t max_queued_bytes = 4 << 20;   // all frames waiting on one channel, in bytes
  // The host's defaults for a domain whose policy does not state a field (--default-policy,
  // --default-events, --default-export); min_interval_ms, max_events and max_sessions above
  // are the limits no policy goes beyond.
  DomainPolicy policy_defaults;

  protocol::Limits limits() const {
    return {min_interval_ms, max_events, max_sessions, max_frame_bytes, lease_ms};
  }
  std::chrono::milliseconds lease() const { return std::chrono::milliseconds(lease_ms); }
  HostPolicyDefaults policy_host() const {
    return {{min_interval_ms, max_events, max_sessions}, policy_defaults};
  }
};

}  // namespace perfkvm::host
