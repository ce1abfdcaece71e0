// -r N: the summary of the runs (means, perf's noise) and how each format prints it, against
// the shapes perf 6.1's `perf stat -r 3` prints (stat-display.c: print_noise_pct, print_footer).
#include <doctest/doctest.h>

#include <sstream>
#include <stdexcept>

#include "report/formatter.hpp"
#include "report/repeat_summary.hpp"
#include "test_columns.hpp"

using namespace perfkvm::report;
using namespace perfkvm::protocol;

using perfkvm::test::column;

namespace {

// Run k (0, 1, 2): 1.0, 1.1, 1.2 s; task-clock half of it; context-switches always 100;
// cycles not supported (the /sec metric is per second of task-clock). Per vCPU: vCPU 0 a fifth, vCPU 1 four fifths of each.
Report run(int k) {
  const std::uint64_t ns = 1'000'000'000 + static_cast<std::uint64_t>(k) * 100'000'000;
  Report report;
  report.duration_ns = ns;
  report.columns = {column("task-clock"), column("context-switches"),
                    column("cycles", Scope::all, ColumnStatus::not_supported)};
  report.totals = {Count{ns / 2, ns, ns}, Count{100, ns, ns}, std::nullopt};
  report.vcpus = {{0, VcpuStatus::running, {Count{ns / 10, ns, ns}, Count{20, ns, ns}, std::nullopt}},
                  {1, VcpuStatus::running, {Count{ns * 4 / 10, ns, ns}, Count{80, ns, ns}, std::nullopt}}};
  return report;
}

std::vector<Report> three_runs() { return {run(0), run(1), run(2)}; }

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

TEST_CASE("perf's statistics: mean, the standard error of the mean, and its share of the mean") {
  RunningStats stats;
  CHECK(stats.standard_error() == 0);
  for (const double x : {2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0}) stats.add(x);
  CHECK(stats.count() == 8);
  CHECK(stats.mean() == doctest::Approx(5.0));
  // Sample variance 32/7; the error of the mean sqrt(32/7/8).
  CHECK(stats.standard_error() == doctest::Approx(0.755929));
  CHECK(relative_error_pct(0.5, 10.0) == doctest::Approx(5.0));
  CHECK(relative_error_pct(0.5, 0.0) == 0.0);
  RunningStats one;
  one.add(3);
  CHECK(one.standard_error() == 0);  // a single run has no spread
}

TEST_CASE("three runs: each count is the mean, its noise the relative error of the mean") {
  const RepeatedReport summary = summarise_runs(three_runs());
  CHECK(summary.runs == 3);
  CHECK(summary.mean.duration_ns == 1'100'000'000);
  // Elapsed 1.0, 1.1, 1.2 s: deviations of 0.1 s, error of the mean 0.1 / sqrt(3).
  CHECK(summary.elapsed_error_ns == doctest::Approx(57'735'026.9));
  REQUIRE(summary.mean.totals.size() == 3);
  CHECK(summary.mean.totals[0]->value == 550'000'000);
  CHECK(summary.mean.totals[0]->time_enabled == 1'100'000'000);
  CHECK(summary.mean.totals[1]->value == 100);
  CHECK_FALSE(summary.mean.totals[2].has_value());  // no run read it
  CHECK(summary.noise_pct[0] == doctest::Approx(100 * 28'867'513.5 / 550'000'000));
  CHECK(summary.noise_pct[1] == 0);
  REQUIRE(summary.mean.vcpus.size() == 2);
  CHECK(summary.mean.vcpus[1].counts[0]->value == 440'000'000);
  CHECK(summary.vcpu_noise_pct[1][0] == doctest::Approx(summary.noise_pct[0]));
}

TEST_CASE("a run without a reading for a cell adds zeros, as in perf; a vCPU row matched by index") {
  std::vector<Report> runs = three_runs();
  runs[1].totals[1] = std::nullopt;
  std::swap(runs[2].vcpus[0], runs[2].vcpus[1]);
  runs[2].vcpus.pop_back();  // vCPU 0 is missing from the last run
  runs[2].vcpus[0].status = VcpuStatus::ended;
  const RepeatedReport summary = summarise_runs(runs);
  CHECK(summary.mean.totals[1]->value == 67);  // (100 + 0 + 100) / 3
  CHECK(summary.noise_pct[1] > 0);
  CHECK(summary.mean.vcpus[0].counts[1]->value == 13);  // (20 + 20 + 0) / 3
  CHECK(summary.mean.vcpus[1].counts[1]->value == 80);
  CHECK(summary.mean.vcpus[1].status == VcpuStatus::ended);  // as the last run left it
  CHECK_THROWS_AS(summarise_runs({}), std::invalid_argument);
}

TEST_CASE("-r 3 in human output: '(3 runs)', the noise after the metric, the elapsed spread") {
  FormatOptions options;
  options.command = "spin";
  const auto lines = lines_of(format_repeated_report(summarise_runs(three_runs()), options));
  REQUIRE(lines.size() >= 8);
  CHECK(lines[1] == " Performance counter stats for 'spin' (3 runs):");
  CHECK(lines[3] ==
        "            550.00 msec task-clock                       #    0.500 CPUs utilized  "
        "          ( +-  5.25% )");
  // A noise of 0 is not printed (perf: only when it is not 0).
  CHECK(lines[4].find("( +-") == std::string::npos);
  CHECK(lines[4].rfind("               100      context-switches", 0) == 0);
  CHECK(lines[5].find("( +-") == std::string::npos);  // <not supported>: no spread
  // Error 0.0577 s: two digits more than its first significant one.
  CHECK(lines[7] == "            1.1000 +- 0.0577 seconds time elapsed  ( +-  5.25% )");
}

TEST_CASE("-r 3 in CSV and JSON: perf's variance field on every line") {
  FormatOptions csv;
  csv.format = OutputFormat::csv;
  const auto rows = lines_of(format_repeated_report(summarise_runs(three_runs()), csv));
  REQUIRE(rows.size() == 3);
  CHECK(rows[0] == "550.00,msec,task-clock,5.25%,1100000000,100.00,0.500,CPUs utilized");
  CHECK(rows[1] == "100,,context-switches,0.00%,1100000000,100.00,181.818,/sec");
  CHECK(rows[2] == "<not supported>,,cycles,0.00%,0,100.00,,");
  FormatOptions json;
  json.format = OutputFormat::json;
  const auto objects = lines_of(format_repeated_report(summarise_runs(three_runs()), json));
  REQUIRE(objects.size() == 3);
  CHECK(objects[0] ==
        "{\"counter-value\" : \"550.000000\", \"unit\" : \"msec\", \"event\" : \"task-clock\", "
        "\"variance\" : 5.25, \"event-runtime\" : 1100000000, \"pcnt-running\" : 100.00, "
        "\"metric-value\" : 0.500000, \"metric-unit\" : \"CPUs utilized\"}");
}

TEST_CASE("-r 3 -A: each vCPU line with its own noise") {
  FormatOptions options;
  options.per_vcpu = true;
  const auto lines = lines_of(format_repeated_report(summarise_runs(three_runs()), options));
  REQUIRE(lines.size() >= 5);
  CHECK(lines[3].rfind("vCPU0", 0) == 0);
  CHECK(lines[3].find("( +-  5.25% )") != std::string::npos);
  CHECK(lines[4].rfind("vCPU1", 0) == 0);
}

TEST_CASE("one run through the repeated formatter prints as a single report does") {
  const Report single = run(1);
  FormatOptions options;
  options.command = "spin";
  CHECK(format_repeated_report(summarise_runs({single}), options) ==
        format_report(single, options));
  // Identical runs: no spread anywhere, and an error of 0 printed as perf prints it on x86-64.
  const auto lines = lines_of(format_repeated_report(summarise_runs({single, single}), options));
  CHECK(lines[1] == " Performance counter stats for 'spin' (2 runs):");
  CHECK(lines[3].find("( +-") == std::string::npos);
  CHECK(lines[7] == "              1.10 +- 0.00 seconds time elapsed");
}
