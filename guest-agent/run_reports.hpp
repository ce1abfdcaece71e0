// What each run of the command counted, and the final report of one run or of N (-r N): the
// region of interest cut out (-D, perfkvm ctl), one block per phase, the mean over the runs.
// Pure: run_command does the I/O, so that each rule here has its unit test.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "guest-agent/region_of_interest.hpp"
#include "protocol/messages.hpp"
#include "report/formatter.hpp"

namespace perfkvm::guest {

struct RunReports {
  protocol::Report total;  // the counted time only
  std::vector<RegionOfInterest::Phase> phases;
  // The counters' whole run when -D or perfkvm ctl cut it (total covers less); none otherwise.
  std::optional<std::uint64_t> run_ns;
};

// A run's final report (its request's last reading) as the region of interest cuts it.
RunReports reports_of_run(const protocol::Report& report, const RegionOfInterest& region);

struct FinalReport {
  std::string text;                // for the report's output
  std::vector<std::string> notes;  // for perfkvm's own messages
};

// One run: as perf stat prints it, a block per phase and then the total. Several (-r N): the
// mean with its noise as perf stat -r prints it; per phase only when every run marked the same
// phases in the same order (otherwise the total alone, and a note says why). `runs` is not
// empty.
FinalReport format_runs(const std::vector<RunReports>& runs, const report::FormatOptions& format);

}  // namespace perfkvm::guest
