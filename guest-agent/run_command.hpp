// `perfkvm [OPTIONS] CMD`: say hello, fork the command held at a gate, start counting,
// release it, print samples while it runs, stop, print the report, return its status.
#pragma once

#include "guest-agent/diagnostics.hpp"
#include "guest-agent/options.hpp"
#include "protocol/messages.hpp"

namespace perfkvm::guest {

// Returns the command's exit status (128+N when killed by signal N). Throws GuestError for
// failures before the command ran. Once it runs, its status is returned whatever happens to
// the host; perfkvm's problems are then reported through `diagnostics`.
int run_command(const RunOptions& options, Diagnostics& diagnostics);

// The start message the options ask for (nonce and request_id are the session's business).
protocol::Start start_request(const RunOptions& options);

// "VM 'web1' (2 vCPUs)", or "VM 'web1' (vCPUs 0,2 of 4)" when only some are counted.
std::string target_label(const protocol::Welcome& welcome, const protocol::Started& started);

}  // namespace perfkvm::guest
