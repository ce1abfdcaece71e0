// What the host sends while the command runs and until the report: samples printed as
// interval blocks at once, the report kept for the end, host errors shown, and the loss of
// the session noticed (the command runs on regardless).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "guest-agent/control_line.hpp"
#include "guest-agent/diagnostics.hpp"
#include "guest-agent/region_of_interest.hpp"
#include "guest-agent/report_output.hpp"
#include "protocol/messages.hpp"
#include "report/formatter.hpp"

namespace perfkvm::guest {

class RunMonitor {
 public:
  // `counting_at_start`: false with -D (counting starts at an enable). `lease`: the host's,
  // from its welcome, named when the host ends the session for silence.
  RunMonitor(protocol::Started started, report::FormatOptions format, ReportOutput& output,
             Diagnostics& diagnostics, bool counting_at_start = true,
             std::chrono::milliseconds lease = {});

  void handle(const protocol::Message& message);
  // The session is gone (host disconnected, lease expired, ...): there will be no report.
  void lose_session(const std::string& why);
  // Ends the session if the host, while counting, has sent nothing at all (not even the echo
  // of a keepalive) for a whole lease: it stopped answering (stopped, wedged, starved).
  void check_host_silence(std::chrono::steady_clock::time_point now);
  // Changes the wording of later messages: nothing keeps running any more.
  void command_ended() { command_running_ = false; }

  // Whether a new session could carry on where this one was lost: not when the region of
  // interest or a snapshot is in play (their readings belong to one request's counters).
  bool resumable() const { return !region_.shapes_the_run() && pending_.empty(); }
  // Counting again after a loss, in the new session's request `started` (begun `now`): the
  // counts so far are kept and the new request's added to them, the time between is a gap.
  // Empty if it was taken; otherwise why not (other columns or vCPUs than before).
  std::string resume(protocol::Started started, std::chrono::steady_clock::time_point now);
  // What was not counted, in the run's time: from the last reading of a lost session to the
  // start of the next.
  struct Gap {
    std::uint64_t from_ns = 0;
    std::uint64_t to_ns = 0;
  };
  const std::vector<Gap>& gaps() const { return gaps_; }
  // The run's time of the last reading that came, if any (what a partial report counts to).
  std::optional<std::uint64_t> counted_up_to_ns() const;
  // The run's time since counting began (the first request's start).
  std::uint64_t run_ns(std::chrono::steady_clock::time_point now) const;

  // Counters are (as far as we know) still open on the host: a stop is due at the end.
  bool counting() const { return !lost_ && !report_; }
  bool lost() const { return lost_; }
  const std::optional<protocol::Report>& report() const { return report_; }
  // The session was lost before the report: the counts up to the last reading that came (an
  // interval sample or a snapshot), as a report of that length; none without any reading.
  std::optional<protocol::Report> partial_report() const;
  std::size_t samples_printed() const { return blocks_; }

  // The `read` read_id was sent to apply `request`: when its answer comes the region of
  // interest changes there (an interval block up to it printed first, so that the blocks add
  // up to the totals), and take_answers() has the answer for whoever asked.
  void expect_snapshot(std::uint64_t read_id, ControlRequest request);
  // (read_id, answer line) for each request settled since the last call: "ok" or "error: ...".
  std::vector<std::pair<std::uint64_t, std::string>> take_answers();
  bool snapshots_pending() const { return !pending_.empty(); }
  const RegionOfInterest& region() const { return region_; }

 private:
  void on_sample(protocol::Sample sample);
  void on_report(const protocol::Report& report);
  void on_error(const protocol::Error& error);
  void on_snapshot(const protocol::Sample& snapshot);
  void print_block(const protocol::Sample& sample);
  void fail_pending(const std::string& why);

  protocol::Started started_;
  report::FormatOptions format_;
  ReportOutput& output_;
  Diagnostics& diagnostics_;
  std::optional<protocol::Sample> previous_;
  std::size_t blocks_ = 0;
  std::optional<protocol::Report> report_;  // with the counts of earlier sessions added
  // The counts of the sessions lost before this one (duration: their counted time), and where
  // this session's request began in the run's time.
  std::optional<protocol::Report> carried_;
  std::uint64_t segment_offset_ns_ = 0;
  std::vector<Gap> gaps_;
  bool lost_ = false;
  bool command_running_ = true;
  std::chrono::steady_clock::time_point started_at_ = std::chrono::steady_clock::now();
  std::chrono::milliseconds lease_;
  std::chrono::steady_clock::time_point last_heard_ = started_at_;
  bool stopped_by_policy_ = false;  // not-permitted for this request: its report says why
  RegionOfInterest region_;
  std::map<std::uint64_t, ControlRequest> pending_;  // by read_id, answered in that order
  std::vector<std::pair<std::uint64_t, std::string>> answers_;
};

}  // namespace perfkvm::guest
