// The host's side of a domain's effective policy, as perfkvm-hostd would have it: its hard
// limits and defaults (host-agent/policy/policy_options.hpp) from hostd's configuration file,
// read with the same options hostd binds, so that `perfkvm-host policy show` says what hostd
// would apply.
#pragma once

#include <filesystem>

#include "perfkvm_config.hpp"

#include "host-agent/policy/effective_policy.hpp"

namespace perfkvm::host {

// Where perfkvm-hostd --config reads it from when installed (perfkvm-hostd.service): the
// build's sysconfdir, /etc/perfkvm/hostd.conf for a prefix of /usr.
inline constexpr const char* kDefaultHostdConfig = PERFKVM_HOSTD_CONFIG;

// hostd's limits when neither its command line nor its file says: SessionConfig's defaults
// (min-interval 10 ms, 32 events, 4 sessions), copied here because perfkvm-host does not
// depend on the session module; tests/integration/policy_command_test.cpp checks the copy.
HostLimits built_in_host_limits();

// The built-in limits with no default of the host's own (every field: the built-in default).
HostPolicyDefaults built_in_host_defaults();

// The options of policy_options.hpp from `file` (CLI11's config format, `key = value` lines,
// as perfkvm-hostd --config reads it) over the built-in values; every other key of hostd's is
// ignored. Throws std::runtime_error naming the file: it cannot be read, or a value is bad.
HostPolicyDefaults read_hostd_config(const std::filesystem::path& file);

}  // namespace perfkvm::host
