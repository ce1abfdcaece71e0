// Whether a guest's start may count (PROTOCOL.md §6.2, "Checking a start"): the checks in the
// spec's order, the first failing one the answer. A pure function of the start, the session's
// state, the domain, the host's limits and the domain's threads, so that each numbered rule has
// its unit test (tests/unit/session/admission_test.cpp). ChannelConnection acts on the answer:
// it takes the counters from the host-wide budget and opens them, or sends the refusal.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "host-agent/counters/column_plan.hpp"
#include "host-agent/session/domain_context.hpp"
#include "host-agent/session/session_config.hpp"
#include "host-agent/threads/vcpu_threads.hpp"
#include "protocol/messages.hpp"

namespace perfkvm::host {

// The error a refused start is answered with (with the start's nonce and request_id).
// `message` goes to the guest and names nothing of the host's own (no pid, tid, path, nor
// another process's command line); `host_detail`, when set, is what the host's log says besides.
struct StartRefusal {
  protocol::ErrorCode code = protocol::ErrorCode::internal;
  std::string message;
  std::string host_detail = {};
  bool operator==(const StartRefusal&) const = default;
};

// A start that passed every check: what to count.
struct AdmittedStart {
  std::vector<CounterColumn> plan;  // the columns (plan_named_columns), decided once
  std::vector<VcpuThread> threads;  // the counted vCPUs' threads, ascending vCPU index
  std::string thread_source;        // where the threads were found ("comm", "status-xml")

  // The perf counters the request opens, one per column and thread: what the budgets count.
  std::uint64_t counters() const { return plan.size() * threads.size(); }
  // The counter reads a second its samples cost (none without samples): what the domain's
  // read budget counts.
  std::uint64_t reads_per_second = 0;
};

using StartDecision = std::variant<StartRefusal, AdmittedStart>;

// Finds the domain's vCPU threads now (vCPU hotplug: at every start).
using ThreadLookup = std::function<VcpuResolution()>;

// The §6.2 checks, in order, for a well-formed `start`:
//   1 busy (`running_request`: the request this session is counting, if any), 2 max_events,
//   3 unknown event, 4 interval, 5 the domain's policy (domain.policy over the host's defaults),
//   6 vCPU index >= domain.vcpus, 7 no threads, then 6's "named vCPU without a thread",
//   8 per-request counters, 9 frame size, 8's host-wide budget.
// Two answers differ from the spec's order, on purpose (see admission.cpp): a domain with no
// threads at all is domain-unavailable even when the start names a vCPU, and the host-wide
// budget, which other requests' ending can free, is checked after the frame size, which
// nothing can change. `threads` is asked only once checks 1 to 6 pass: it scans /proc, and a
// failing lookup must not hide an earlier error (nor a refusal cost a scan). What it throws is
// let through: rule 10, which the caller answers with setup_failure.
StartDecision check_start(const protocol::Start& start,
                          std::optional<std::uint64_t> running_request,
                          const DomainContext& domain, const SessionConfig& config,
                          const ThreadLookup& threads);

// After the counters are open: the first counted thread that a lookup made now no longer
// gives the same vCPU (its thread exited and the id was reused, between the lookup admission
// made and perf_event_open), or nullopt. The caller then ends the start (domain-unavailable).
std::optional<VcpuThread> replaced_thread(const std::vector<VcpuThread>& counted,
                                          const VcpuResolution& now);

// Rule 10: any other failure to set up (looking up the threads, opening the counters); `what`
// is the host's detail.
StartRefusal setup_failure(std::string_view what);

// Upper bound of a sample frame's size (rule 9): the spec's 67 bytes per cell, 48 per vCPU row
// and 400 for the rest.
std::size_t worst_sample_bytes(std::size_t columns, std::size_t vcpus, bool per_vcpu);

}  // namespace perfkvm::host
