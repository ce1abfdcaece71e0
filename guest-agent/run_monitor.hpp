// What the host sends while the command runs and until the report: samples printed as
// interval blocks at once, the report kept for the end, host errors shown, and the loss of
// the session noticed (the command runs on regardless).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "guest-agent/diagnostics.hpp"
#include "guest-agent/report_output.hpp"
#include "protocol/messages.hpp"
#include "report/formatter.hpp"

namespace perfkvm::guest {

class RunMonitor {
 public:
  RunMonitor(protocol::Started started, report::FormatOptions format, ReportOutput& output,
             Diagnostics& diagnostics);

  void handle(const protocol::Message& message);
  // The session is gone (host disconnected, lease expired, ...): there will be no report.
  void lose_session(const std::string& why);
  // Changes the wording of later messages: nothing keeps running any more.
  void command_ended() { command_running_ = false; }

  // Counters are (as far as we know) still open on the host: a stop is due at the end.
  bool counting() const { return !lost_ && !report_; }
  bool lost() const { return lost_; }
  const std::optional<protocol::Report>& report() const { return report_; }
  std::size_t samples_printed() const { return blocks_; }

 private:
  void on_sample(const protocol::Sample& sample);
  void on_report(const protocol::Report& report);
  void on_error(const protocol::Error& error);

  protocol::Started started_;
  report::FormatOptions format_;
  ReportOutput& output_;
  Diagnostics& diagnostics_;
  std::optional<protocol::Sample> previous_;
  std::size_t blocks_ = 0;
  std::optional<protocol::Report> report_;
  bool lost_ = false;
  bool command_running_ = true;
  bool stopped_by_policy_ = false;  // not-permitted for this request: its report says why
};

}  // namespace perfkvm::guest
