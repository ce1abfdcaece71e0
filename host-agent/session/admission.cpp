#include "host-agent/session/admission.hpp"

#include <algorithm>

#include "host-agent/counters/vcpu_selection.hpp"
#include "host-agent/policy/policy_checks.hpp"
#include "host-agent/session/session_policy.hpp"
#include "protocol/events.hpp"

namespace perfkvm::host {

using protocol::ErrorCode;

namespace {

std::string vcpu_list(const std::vector<VcpuThread>& threads) {
  std::string text;
  for (const auto& thread : threads) {
    if (!text.empty()) text += ",";
    text += std::to_string(thread.vcpu);
  }
  return text;
}

}  // namespace

std::size_t worst_sample_bytes(std::size_t columns, std::size_t vcpus, bool per_vcpu) {
  constexpr std::size_t kCell = 3 * 21 + 4;  // three 20-digit numbers, brackets, commas
  constexpr std::size_t kEnvelope = 400;
  constexpr std::size_t kRow = 48;
  return kEnvelope + columns * kCell + (per_vcpu ? vcpus * (kRow + columns * kCell) : 0);
}

std::optional<VcpuThread> replaced_thread(const std::vector<VcpuThread>& counted,
                                          const VcpuResolution& now) {
  for (const auto& thread : counted) {
    if (std::find(now.threads.begin(), now.threads.end(), thread) == now.threads.end()) {
      return thread;
    }
  }
  return std::nullopt;
}

StartRefusal setup_failure(std::string_view what) {
  return {ErrorCode::internal,
          "the host could not start counting (an internal error: the host's log says why)",
          std::string(what)};
}

StartDecision check_start(const protocol::Start& start,
                          std::optional<std::uint64_t> running_request,
                          const DomainContext& domain, const SessionConfig& config,
                          const ThreadLookup& threads) {
  // 1. One request at a time per session.
  if (running_request) {
    return StartRefusal{ErrorCode::busy, "request " + std::to_string(*running_request) +
                                             " is still counting on this channel; stop it first"};
  }
  // 2.
  if (start.events.size() > config.max_events) {
    return StartRefusal{ErrorCode::too_many_events,
                        std::to_string(start.events.size()) +
                            " events requested; this host allows " +
                            std::to_string(config.max_events) + " per request"};
  }
  // 3. Names only: an event the host cannot count is admitted, as a not-supported column.
  for (const auto& name : start.events) {
    const protocol::ParsedEventName parsed = protocol::parse_event_name(name);
    if (parsed.event == nullptr) {
      return StartRefusal{ErrorCode::unknown_event, "unknown event '" + name +
                                                        "'; valid events: " +
                                                        protocol::event_names_list()};
    }
    // A modifier this host cannot honour (":u", ":k", a software event's ":G", ...).
    if (!parsed.problem.empty()) return StartRefusal{ErrorCode::unknown_event, parsed.problem};
  }
  std::vector<CounterColumn> plan = plan_named_columns(start.events, start.mode);
  // 4.
  if (start.interval_ms && *start.interval_ms < config.min_interval_ms) {
    return StartRefusal{ErrorCode::interval_too_short,
                        "interval " + std::to_string(*start.interval_ms) +
                            " ms is below this host's minimum of " +
                            std::to_string(config.min_interval_ms) + " ms"};
  }
  // 5. The domain's policy narrows the host's limits (2 and 4, which keep their own codes).
  if (auto refused = check_start_policy(start, domain.name, effective_policy(domain, config))) {
    return StartRefusal{ErrorCode::not_permitted, std::move(*refused)};
  }
  // 6, the part the domain's XML answers: an index beyond its vCPUs.
  if (start.vcpus) {
    for (const auto vcpu : *start.vcpus) {
      if (vcpu >= domain.vcpus) {
        return StartRefusal{ErrorCode::invalid_vcpu,
                            "vCPU " + std::to_string(vcpu) + " does not exist: domain '" +
                                domain.name + "' has " + std::to_string(domain.vcpus) +
                                " vCPUs (0 to " + std::to_string(domain.vcpus - 1) + ")"};
      }
    }
  }
  // 7. Before the rest of 6 (as PROTOCOL.md §6.2 says): without any thread the domain is not
  // running (or not countable), and "vCPU n has no thread" would send the guest looking for an
  // offline vCPU (tests/integration/session_test.cpp relies on this answer).
  VcpuResolution resolution = threads();
  // The wire carries vCPUs 0 to 4095 only: a larger domain is served as its first 4096 (as its
  // welcome says).
  std::erase_if(resolution.threads,
                [](const VcpuThread& thread) { return thread.vcpu >= protocol::kMaxVcpus; });
  if (resolution.threads.empty()) {
    // Why is the host's to know: the problem names pids, tids and paths, even an unrelated
    // process's command line.
    return StartRefusal{ErrorCode::domain_unavailable,
                        "cannot find the vCPU threads of domain '" + domain.name +
                            "' (is it running? the host's log says why)",
                        resolution.problem};
  }
  // 6, the part the threads answer: a vCPU that exists but has no thread (offline).
  VcpuSelection selection = select_vcpus(resolution.threads, start.vcpus);
  if (selection.missing) {
    return StartRefusal{ErrorCode::invalid_vcpu,
                        "vCPU " + std::to_string(*selection.missing) + " of domain '" +
                            domain.name + "' has no thread (offline?); vCPUs with threads: " +
                            vcpu_list(resolution.threads)};
  }
  AdmittedStart admitted{std::move(plan), std::move(selection.threads), resolution.source};
  const std::size_t columns = admitted.plan.size();
  const std::size_t vcpus = admitted.threads.size();
  const std::uint64_t counters = admitted.counters();
  if (start.interval_ms) {
    admitted.reads_per_second = (counters * 1000 + *start.interval_ms - 1) / *start.interval_ms;
  }
  // 8, the budget of one request.
  if (counters > config.max_counters) {
    return StartRefusal{ErrorCode::too_many_events,
                        std::to_string(columns) + " columns on " + std::to_string(vcpus) +
                            " vCPUs need " + std::to_string(counters) +
                            " counters; this host allows " + std::to_string(config.max_counters) +
                            " per request (perfkvm-hostd --max-counters)"};
  }
  // 9.
  if (worst_sample_bytes(columns, vcpus, start.per_vcpu) > config.max_frame_bytes) {
    return StartRefusal{ErrorCode::too_many_events,
                        std::to_string(columns) + " columns for " + std::to_string(vcpus) +
                            " vCPUs would not fit in this host's maximum frame of " +
                            std::to_string(config.max_frame_bytes) +
                            " bytes; count fewer events or vCPUs, or drop the per-vCPU breakdown"};
  }
  // 8, the budgets of requests together, the domain's and then the host's: last (as
  // PROTOCOL.md §6.2 says), because they are the answers that say "try again later", and a
  // start refused by 9 never fits.
  if (domain.counters && !domain.counters->can_take(counters)) {
    return StartRefusal{
        ErrorCode::too_many_events,
        std::to_string(counters) + " counters would take domain '" + domain.name +
            "' over its share of this host's counters: " +
            std::to_string(domain.counters->in_use()) + " of " +
            std::to_string(domain.counters->limit()) +
            " are in use by its other requests (perfkvm-hostd --max-domain-counters); count "
            "fewer events or vCPUs, or try again when they have ended"};
  }
  // The domain's counter reads a second: its sampling requests together, bounded as its counters
  // are (each read is a system call on hostd's one thread).
  if (domain.reads && !domain.reads->can_take(admitted.reads_per_second)) {
    return StartRefusal{
        ErrorCode::too_many_events,
        "sampling every " + std::to_string(start.interval_ms.value_or(0)) + " ms would read " +
            std::to_string(admitted.reads_per_second) + " counters a second; domain '" +
            domain.name + "' may read " + std::to_string(domain.reads->limit()) +
            " a second and its other requests read " + std::to_string(domain.reads->in_use()) +
            " (perfkvm-hostd --max-counter-reads); sample less often, count fewer events or "
            "vCPUs, or try again when they have ended"};
  }
  const CounterBudget& budget = *config.host_counters;
  if (!budget.can_take(counters)) {
    return StartRefusal{
        ErrorCode::too_many_events,
        std::to_string(counters) +
            " counters would take this host over its limit for all guests together: " +
            std::to_string(budget.in_use()) + " of " + std::to_string(budget.limit()) +
            " are in use (perfkvm-hostd --max-host-counters); count fewer events or "
            "vCPUs, or try again when other measurements have ended"};
  }
  return admitted;
}

}  // namespace perfkvm::host
