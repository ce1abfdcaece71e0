#include "guest-agent/run_reports.hpp"

#include <functional>

#include "report/number_format.hpp"
#include "report/repeat_summary.hpp"

namespace perfkvm::guest {

namespace {

std::string seconds_text(double ns) { return report::fixed(ns / 1e9, 3); }

bool same_phases(const std::vector<RunReports>& runs) {
  for (const auto& run : runs) {
    if (run.phases.size() != runs.front().phases.size()) return false;
    for (std::size_t i = 0; i < run.phases.size(); ++i) {
      if (run.phases[i].name != runs.front().phases[i].name) return false;
    }
  }
  return true;
}

// Each run's report picked out by `pick`, as one summary's input.
std::vector<protocol::Report> reports_of(
    const std::vector<RunReports>& runs,
    const std::function<const protocol::Report&(const RunReports&)>& pick) {
  std::vector<protocol::Report> reports;
  reports.reserve(runs.size());
  for (const auto& run : runs) reports.push_back(pick(run));
  return reports;
}

}  // namespace

RunReports reports_of_run(const protocol::Report& report, const RegionOfInterest& region) {
  if (!region.shapes_the_run()) return RunReports{report, {}, std::nullopt};
  RegionOfInterest::Result result = region.finish(report);
  return RunReports{std::move(result.total), std::move(result.phases), result.run_ns};
}

FinalReport format_runs(const std::vector<RunReports>& runs, const report::FormatOptions& format) {
  FinalReport final_report;
  const bool repeated = runs.size() > 1;
  const auto format_one = [&](const std::vector<protocol::Report>& reports,
                              const report::FormatOptions& options) {
    return repeated ? report::format_repeated_report(report::summarise_runs(reports), options)
                    : report::format_report(reports.front(), options);
  };

  const bool by_phase = same_phases(runs);
  if (by_phase) {
    for (std::size_t i = 0; i < runs.front().phases.size(); ++i) {
      report::FormatOptions phase_format = format;
      phase_format.phase = runs.front().phases[i].name;
      final_report.text += format_one(
          reports_of(runs, [i](const RunReports& run) -> const protocol::Report& {
            return run.phases[i].report;
          }),
          phase_format);
    }
  } else {
    final_report.notes.push_back("the " + std::to_string(runs.size()) +
                                 " runs marked different phases (perfkvm ctl mark): the report "
                                 "has the total only");
  }
  final_report.text += format_one(
      reports_of(runs, [](const RunReports& run) -> const protocol::Report& { return run.total; }),
      format);

  // The share of the counters' time the report covers, averaged over the runs.
  double counted_ns = 0;
  double run_ns = 0;
  bool cut = false;
  for (const auto& run : runs) {
    counted_ns += static_cast<double>(run.total.duration_ns);
    run_ns += static_cast<double>(run.run_ns.value_or(run.total.duration_ns));
    cut = cut || run.run_ns.has_value();
  }
  if (cut) {
    const double n = static_cast<double>(runs.size());
    final_report.notes.push_back(
        std::string("counted ") + seconds_text(counted_ns / n) + " s of the " +
        seconds_text(run_ns / n) + " s the counters ran" + (repeated ? " (mean of the runs)" : "") +
        " (-D, perfkvm ctl): the report covers the counted time only");
  }
  return final_report;
}

}  // namespace perfkvm::guest
