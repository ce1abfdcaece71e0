// `perfkvm-host policy`'s command line (CLI11): show|set|clear DOMAIN, set's fields and the
// --live/--config scope. Every value is checked here as the policy module checks it (event
// names, numbers' bounds, modes), so that a bad one is a usage error before libvirt is
// contacted. Parsing only.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "host-agent/admin/policy_command.hpp"
#include "protocol/messages.hpp"

namespace CLI {
class App;
}  // namespace CLI

namespace perfkvm::host {

// Adds `policy` and its subcommands to `app`; after parsing, `command` holds the values.
void add_policy_command(CLI::App& app, PolicyCommand& command);

// What CLI11 cannot say itself, checked after parsing: set with no field to change.
// Throws cli::UsageError.
void check_policy_command(const PolicyCommand& command);

// "guest,host": set --modes. Throws PolicyError naming the bad entry (unknown, empty, twice).
std::vector<protocol::StartMode> parse_mode_list(std::string_view comma_separated);

}  // namespace perfkvm::host
