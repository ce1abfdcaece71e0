// The command-line (and config-file) options that decide what a domain without a policy, or
// without some of its fields, gets: the host's hard limits (--min-interval, --max-events,
// --max-sessions) and its defaults (--default-policy, --default-events, --default-export).
// Written once and bound twice: perfkvm-hostd enforces them; `perfkvm-host policy show` reads
// hostd's configuration file with the same options to show where each value comes from.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>

#include "host-agent/policy/domain_policy.hpp"

namespace perfkvm::host {

// Where the parsed values go: the limits into the caller's own fields (hostd's SessionConfig,
// which every session enforces), the defaults into a DomainPolicy (fields left absent keep
// the built-in defaults of effective_policy.hpp).
struct PolicyOptionTargets {
  std::uint32_t& min_interval_ms;
  std::uint32_t& max_events;
  std::uint32_t& max_sessions;
  DomainPolicy& defaults;
};

inline constexpr const char* kPolicyOptionGroup = "Guest limits and the default policy";

void add_policy_options(CLI::App& app, const PolicyOptionTargets& targets);

}  // namespace perfkvm::host
