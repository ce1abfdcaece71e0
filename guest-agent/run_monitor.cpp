#include "guest-agent/run_monitor.hpp"

#include <algorithm>

#include "report/interval_delta.hpp"
#include "report/number_format.hpp"

namespace perfkvm::guest {

namespace {

std::string error_text(const protocol::Error& error) {
  return std::string(protocol::to_string(error.code)) + ": " + error.message;
}

void add_cells(std::vector<protocol::Cell>& sum, const std::vector<protocol::Cell>& more) {
  if (sum.size() < more.size()) sum.resize(more.size());
  for (std::size_t i = 0; i < more.size(); ++i) sum[i] = report::combined(sum[i], more[i]);
}

// `later`'s counts with `earlier`'s added, cell by cell and vCPU by vCPU: the report of two
// sessions' requests over the same columns, its duration their counted time together.
protocol::Report with_earlier(const std::optional<protocol::Report>& earlier,
                              protocol::Report later) {
  if (!earlier) return later;
  later.duration_ns += earlier->duration_ns;
  later.samples_sent += earlier->samples_sent;
  later.samples_dropped += earlier->samples_dropped;
  add_cells(later.totals, earlier->totals);
  for (const auto& row : earlier->vcpus) {
    const auto same = std::find_if(later.vcpus.begin(), later.vcpus.end(),
                                   [&](const auto& other) { return other.vcpu == row.vcpu; });
    if (same == later.vcpus.end()) {
      later.vcpus.push_back(row);
    } else {
      add_cells(same->counts, row.counts);
    }
  }
  return later;
}

}  // namespace

RunMonitor::RunMonitor(protocol::Started started, report::FormatOptions format,
                       ReportOutput& output, Diagnostics& diagnostics, bool counting_at_start,
                       std::chrono::milliseconds lease)
    : started_(std::move(started)),
      format_(std::move(format)),
      output_(output),
      diagnostics_(diagnostics),
      lease_(lease),
      region_(counting_at_start) {}

void RunMonitor::expect_snapshot(std::uint64_t read_id, ControlRequest request) {
  pending_.emplace(read_id, std::move(request));
}

std::vector<std::pair<std::uint64_t, std::string>> RunMonitor::take_answers() {
  return std::exchange(answers_, {});
}

void RunMonitor::fail_pending(const std::string& why) {
  for (const auto& [read_id, request] : pending_) answers_.emplace_back(read_id, "error: " + why);
  pending_.clear();
}

void RunMonitor::handle(const protocol::Message& message) {
  last_heard_ = std::chrono::steady_clock::now();
  if (const auto* sample = std::get_if<protocol::Sample>(&message)) {
    on_sample(*sample);
  } else if (const auto* report = std::get_if<protocol::Report>(&message)) {
    on_report(*report);
  } else if (const auto* error = std::get_if<protocol::Error>(&message)) {
    on_error(*error);
  } else if (!std::holds_alternative<protocol::Keepalive>(message)) {
    diagnostics_.debug("ignored a '" + std::string(protocol::type_name(message)) +
                       "' from perfkvm-hostd during the run");
  }
}

void RunMonitor::on_sample(protocol::Sample sample) {
  // After the report the request is over: late samples are stale (§6.1).
  if (lost_ || report_ || sample.request_id != started_.request_id) {
    diagnostics_.debug("dropped a sample of request " + std::to_string(sample.request_id));
    return;
  }
  if (sample.totals.size() != started_.columns.size()) {
    diagnostics_.debug("dropped sample " + std::to_string(sample.seq) + ": " +
                       std::to_string(sample.totals.size()) + " cells for " +
                       std::to_string(started_.columns.size()) + " columns");
    return;
  }
  // In the run's time: a request of a later session counts from its own start.
  sample.elapsed_ns += segment_offset_ns_;
  if (sample.read_id) return on_snapshot(sample);
  // Gaps (dropped samples) are fine, the delta spans them; going back is not. (A snapshot
  // carries the seq of the interval sample before it.)
  if (previous_ && (sample.seq < previous_->seq ||
                    (sample.seq == previous_->seq && !previous_->read_id))) {
    diagnostics_.debug("dropped sample " + std::to_string(sample.seq) + ", out of order");
    return;
  }
  // While counting is off the interval is not counted: nothing to print, and the next block
  // begins here.
  if (region_.counting()) print_block(sample);
  previous_ = sample;
}

void RunMonitor::print_block(const protocol::Sample& sample) {
  report::FormatOptions format = format_;
  if (region_.has_phases()) {
    format.phase = region_.phase().empty() ? std::string(kUnmarkedPhase) : region_.phase();
  }
  output_.write(report::format_interval(started_.columns, sample, previous_ ? &*previous_ : nullptr,
                                        format, report::interval_header_due(blocks_)));
  ++blocks_;
}

void RunMonitor::on_snapshot(const protocol::Sample& snapshot) {
  const auto found = pending_.find(*snapshot.read_id);
  if (found == pending_.end()) {
    diagnostics_.debug("dropped the answer to read " + std::to_string(*snapshot.read_id));
    return;
  }
  // With intervals, the block up to here belongs to the phase (and counting state) before.
  if (started_.interval_ms && region_.counting() &&
      (!previous_ || snapshot.elapsed_ns > previous_->elapsed_ns)) {
    print_block(snapshot);
  }
  // The next block starts here; and without intervals it is the latest reading there is, for a
  // partial report should the session be lost.
  previous_ = snapshot;
  region_.apply(found->second.action, snapshot, found->second.phase);
  answers_.emplace_back(found->first, "ok");
  pending_.erase(found);
}

void RunMonitor::on_report(const protocol::Report& report) {
  if (lost_ || report_ || report.request_id != started_.request_id) {
    diagnostics_.debug("dropped a report of request " + std::to_string(report.request_id));
    return;
  }
  report_ = with_earlier(carried_, report);
  fail_pending("counting ended before the host read the counters");
  if (report.reason == protocol::EndReason::domain_stopped && command_running_) {
    diagnostics_.warning(
        "perfkvm-hostd stopped counting before the command ended: the VM's "
        "vCPUs stopped; the report shows the counts up to then");
  } else if (report.reason == protocol::EndReason::error && stopped_by_policy_) {
    diagnostics_.warning(
        "the host's policy for this VM changed during the run and stopped counting; the "
        "report shows the counts up to then");
  } else if (report.reason == protocol::EndReason::error && command_running_) {
    diagnostics_.warning(
        "counting failed on the host before the command ended; the report "
        "shows the counts up to then");
  }
}

void RunMonitor::on_error(const protocol::Error& error) {
  switch (error.code) {
    case protocol::ErrorCode::lease_expired:
      // This perfkvm was silent past the lease (stopped by SIGSTOP, or starved of CPU) while
      // the host kept running: the cause is on this side, and the host's text says it less
      // plainly.
      if (!lost_ && !report_) {
        lose_session(lease_.count() > 0
                         ? "the host ended this session after " +
                               report::fixed(static_cast<double>(lease_.count()) / 1e3, 1) +
                               " s without a message (lease)"
                         : "the host ended this session: no message from this perfkvm for its "
                           "lease (" + error.message + ")");
      }
      return;
    case protocol::ErrorCode::no_session:
      // A host program that never had this session answers it: hostd restarted, or this VM
      // runs in a new QEMU process (restored from a save, migrated) served by another hostd.
      if (!lost_ && !report_) {
        lose_session("perfkvm-hostd no longer knows this session (it restarted, or this VM was "
                     "restored or migrated): " + error_text(error));
      }
      return;
    case protocol::ErrorCode::session_replaced:
      if (!lost_ && !report_) lose_session("perfkvm-hostd ended the session: " + error_text(error));
      return;
    case protocol::ErrorCode::not_permitted:
      // The policy changed under the running request: the report with its counts follows.
      if (error.request_id == started_.request_id) stopped_by_policy_ = true;
      break;
    case protocol::ErrorCode::unknown_request:
      // A stop that crossed a report on the wire (§6.1): expected, nothing lost.
      if (report_) return;
      break;
    case protocol::ErrorCode::rate_limited:
    case protocol::ErrorCode::unknown_type:
      // A refused read: replies come in order, so it is the oldest one waiting.
      if (error.request_id == started_.request_id && !pending_.empty()) {
        answers_.emplace_back(pending_.begin()->first, "error: perfkvm-hostd: " + error_text(error));
        pending_.erase(pending_.begin());
        return;
      }
      break;
    default:
      break;
  }
  diagnostics_.error("perfkvm-hostd: " + error_text(error));
}

void RunMonitor::check_host_silence(std::chrono::steady_clock::time_point now) {
  // Never sooner than a second: a host announcing a lease of a few ms (keepalive-floor) is no
  // reason to give its counts up at the first late echo.
  constexpr std::chrono::milliseconds kShortestSilence{1000};
  if (!counting() || lease_.count() <= 0) return;
  if (now - last_heard_ <= std::max(lease_, kShortestSilence)) return;
  lose_session("perfkvm-hostd stopped answering: nothing from it, not even keepalives, for " +
               report::fixed(std::chrono::duration<double>(now - last_heard_).count(), 1) +
               " s, more than its lease (it is stopped or wedged)");
}

void RunMonitor::lose_session(const std::string& why) {
  if (lost_) return;
  lost_ = true;
  fail_pending("the session with perfkvm-hostd is gone");
  const double after_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_at_).count();
  // When: the cause is the host's, and a user lines it up with the host's log by it.
  std::string text = "at " + report::fixed(after_s, 1) + " s: " + why;
  const auto counted_to = counted_up_to_ns();
  text += counted_to ? "; the report has the counts up to " +
                           report::fixed(static_cast<double>(*counted_to) / 1e9, 3) +
                           " s, the last reading that came"
                     : "; no counts for this run";
  diagnostics_.error(text + (command_running_ ? " (the command keeps running)" : ""));
}

std::optional<protocol::Report> RunMonitor::partial_report() const {
  if (!lost_ || report_) return std::nullopt;
  if (!previous_) return carried_;
  protocol::Report partial;
  partial.request_id = started_.request_id;
  partial.duration_ns = previous_->elapsed_ns - segment_offset_ns_;
  partial.columns = started_.columns;
  partial.totals = previous_->totals;
  partial.vcpus = previous_->vcpus;
  return with_earlier(carried_, std::move(partial));
}

std::optional<std::uint64_t> RunMonitor::counted_up_to_ns() const {
  if (previous_) return previous_->elapsed_ns;
  if (!gaps_.empty()) return gaps_.back().from_ns;
  return std::nullopt;
}

std::uint64_t RunMonitor::run_ns(std::chrono::steady_clock::time_point now) const {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(now - started_at_).count());
}

std::string RunMonitor::resume(protocol::Started started,
                               std::chrono::steady_clock::time_point now) {
  if (!lost_ || report_) return "nothing was lost";
  // The counts can only be added up column by column and vCPU by vCPU.
  if (started.columns != started_.columns) {
    return "the host now counts other columns (its events or policy changed)";
  }
  if (started.vcpus != started_.vcpus) return "the host now counts other vCPUs";
  const std::uint64_t counted_to = previous_ ? previous_->elapsed_ns : segment_offset_ns_;
  carried_ = partial_report();
  segment_offset_ns_ = std::max(run_ns(now), counted_to);
  gaps_.push_back(Gap{counted_to, segment_offset_ns_});
  started_ = std::move(started);
  previous_.reset();
  lost_ = false;
  diagnostics_.warning("at " + report::fixed(static_cast<double>(segment_offset_ns_) / 1e9, 1) +
                       " s: a new session with perfkvm-hostd; counting again (not counted from " +
                       report::fixed(static_cast<double>(counted_to) / 1e9, 3) + " s to " +
                       report::fixed(static_cast<double>(segment_offset_ns_) / 1e9, 3) + " s)");
  return {};
}

}  // namespace perfkvm::guest
