// The final report of one run or of N (-r N): phases kept only when every run marked the
// same ones, and the note on the counted share of the time (task_clock_readings.hpp).
#include <doctest/doctest.h>

#include "guest-agent/run_reports.hpp"
#include "task_clock_readings.hpp"

using namespace perfkvm;
using namespace perfkvm::guest;
using perfkvm::test::at;
using perfkvm::test::kSecond;
using perfkvm::test::report_at;

namespace {

// A run of `seconds` with a mark named `phase` half-way.
RunReports marked_run(double seconds, const std::string& phase) {
  RegionOfInterest region(true);
  region.apply(ControlAction::mark, at(seconds / 2), phase);
  return reports_of_run(report_at(seconds), region);
}

report::FormatOptions csv() {
  report::FormatOptions format;
  format.format = report::OutputFormat::csv;
  return format;
}

}  // namespace

TEST_CASE("one run without control: the report as it came, no note") {
  const RunReports run = reports_of_run(report_at(2), RegionOfInterest(true));
  CHECK_FALSE(run.run_ns.has_value());
  const FinalReport final_report = format_runs({run}, csv());
  CHECK(final_report.text == "1000.00,msec,task-clock,2000000000,100.00,0.500,CPUs utilized\n");
  CHECK(final_report.notes.empty());
}

TEST_CASE("runs that marked the same phases: a mean per phase, then the total") {
  const FinalReport final_report = format_runs({marked_run(2, "load"), marked_run(4, "load")}, csv());
  // (unmarked) 0.5 and 1 s of task-clock, load the same: means 0.75 s, 33.33% either way.
  CHECK(final_report.text ==
        "750.00,msec,task-clock,33.33%,1500000000,100.00,0.500,CPUs utilized,(unmarked)\n"
        "750.00,msec,task-clock,33.33%,1500000000,100.00,0.500,CPUs utilized,load\n"
        "1500.00,msec,task-clock,33.33%,3000000000,100.00,0.500,CPUs utilized\n");
  // Marks cut nothing out, but the report is made of snapshots all the same; the note says so.
  REQUIRE(final_report.notes.size() == 1);
  CHECK(final_report.notes[0].starts_with("counted 3.000 s of the 3.000 s the counters ran (mean"));
}

TEST_CASE("runs that marked different phases: the total only, and a note says why") {
  const FinalReport final_report =
      format_runs({marked_run(2, "load"), marked_run(2, "query")}, csv());
  CHECK(final_report.text == "1000.00,msec,task-clock,0.00%,2000000000,100.00,0.500,CPUs utilized\n");
  REQUIRE(final_report.notes.size() == 2);
  CHECK(final_report.notes[0] ==
        "the 2 runs marked different phases (perfkvm ctl mark): the report has the total only");
}

TEST_CASE("-D over N runs: the counted share of the counters' time, the mean of the runs") {
  std::vector<RunReports> runs;
  for (const double seconds : {2.0, 4.0}) {
    RegionOfInterest region(false);  // -D: counting from half-way
    region.apply(ControlAction::enable, at(seconds / 2));
    runs.push_back(reports_of_run(report_at(seconds), region));
  }
  CHECK(runs[0].run_ns == 2 * kSecond);
  const FinalReport final_report = format_runs(runs, csv());
  REQUIRE(final_report.notes.size() == 1);
  CHECK(final_report.notes[0] ==
        "counted 1.500 s of the 3.000 s the counters ran (mean of the runs) (-D, perfkvm ctl): "
        "the report covers the counted time only");
}
