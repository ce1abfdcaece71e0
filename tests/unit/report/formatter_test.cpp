// Behaviour beyond the golden files: headers, notes, options, and untrusted or inconsistent
// input (which must print something sensible, never crash).
#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <limits>
#include <sstream>

#include "report/formatter.hpp"
#include "test_columns.hpp"

using namespace perfkvm::report;
using namespace perfkvm::protocol;

using perfkvm::test::column;

namespace {

Report software_report() {
  Report report;
  report.duration_ns = 1000000000;
  report.columns = {column("task-clock"), column("context-switches")};
  report.totals = {Count{500000000, 1000000000, 1000000000}, Count{10, 1000000000, 1000000000}};
  return report;
}

FormatOptions with(OutputFormat format) {
  FormatOptions options;
  options.format = format;
  return options;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("the human header names the command and the target like perf names its target") {
  FormatOptions options;
  const auto header = [&] { return lines_of(format_report(software_report(), options)).at(1); };
  CHECK(header() == " Performance counter stats for all vCPUs:");
  options.command = "make -j2";
  CHECK(header() == " Performance counter stats for 'make -j2':");
  options.target_label = "VM 'web1' (2 vCPUs)";
  CHECK(header() == " Performance counter stats for 'make -j2' on VM 'web1' (2 vCPUs):");
  options.command.clear();
  CHECK(header() == " Performance counter stats for VM 'web1' (2 vCPUs):");
}

TEST_CASE("notes: one dropped sample, an early end; none in CSV and JSON") {
  Report report = software_report();
  report.samples_dropped = 1;
  report.reason = EndReason::error;
  const std::string human = format_report(report, {});
  CHECK(contains(human, "\n# counting ended early: the host could not read the counters\n"));
  CHECK(contains(human, "\n# 1 interval sample was dropped\n"));
  CHECK_FALSE(contains(format_report(report, with(OutputFormat::csv)), "#"));
  CHECK_FALSE(contains(format_report(report, with(OutputFormat::json)), "#"));
}

TEST_CASE("a JSON line without any metric names no unit instead of perf's \"(null)\"") {
  Report report = software_report();
  report.columns = {column("context-switches")};  // no clock: no /sec
  report.totals = {Count{10, 1000, 1000}};
  const std::string json = format_report(report, with(OutputFormat::json));
  CHECK(contains(json, "\"metric-value\" : 0.000000, \"metric-unit\" : \"\"}"));
  CHECK(boost::json::parse(json).is_object());
  CHECK(format_report(report, with(OutputFormat::csv)) == "10,,context-switches,1000,100.00,,\n");
}

TEST_CASE("event names from the wire are escaped in JSON and made printable elsewhere") {
  Report report;
  report.columns = {column("evil\"\x1b[2J\\name")};
  report.totals = {Count{1, 1, 1}};
  const std::string json = format_report(report, with(OutputFormat::json));
  CHECK(boost::json::parse(json).as_object().at("event").as_string() == "evil\"\x1b[2J\\name");
  const std::string human = format_report(report, {});
  CHECK(contains(human, "evil\"\\x1b[2J\\x5cname"));
  CHECK_FALSE(contains(human, "\x1b"));
}

TEST_CASE("rows shorter than the columns print the missing cells as not counted") {
  Sample sample;
  sample.elapsed_ns = 1000000000;
  sample.totals = {Count{5, 10, 10}};
  const std::vector<Column> columns = {column("page-faults"), column("task-clock")};
  const std::string csv = format_interval(columns, sample, nullptr, with(OutputFormat::csv), true);
  const auto lines = lines_of(csv);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == "     1.000000000,5,,page-faults,10,100.00,,");
  CHECK(lines[1] == "     1.000000000,<not counted>,msec,task-clock,0,100.00,,");
}

TEST_CASE("per_vcpu without vCPU rows prints the totals") {
  FormatOptions options;
  options.per_vcpu = true;
  const std::string human = format_report(software_report(), options);
  CHECK(contains(human, "\n            500.00 msec task-clock "));
  CHECK_FALSE(contains(human, "\nvCPU"));  // no row labels
}

TEST_CASE("interval rows are matched to the previous sample by vCPU index") {
  const std::vector<Column> columns = {column("page-faults")};
  Sample previous;
  previous.elapsed_ns = 1000;
  previous.vcpus = {VcpuCounts{3, VcpuStatus::running, {Count{100, 10, 10}}}};
  Sample current;
  current.elapsed_ns = 2000;
  current.vcpus = {VcpuCounts{1, VcpuStatus::running, {Count{7, 20, 20}}},
                   VcpuCounts{3, VcpuStatus::running, {Count{150, 20, 20}}}};
  FormatOptions options = with(OutputFormat::csv);
  options.per_vcpu = true;
  const auto lines = lines_of(format_interval(columns, current, &previous, options, true));
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == "     0.000002000,vCPU1,7,,page-faults,20,100.00,,");   // new: from zero
  CHECK(lines[1] == "     0.000002000,vCPU3,50,,page-faults,10,100.00,,");  // 150 - 100
}

TEST_CASE("the interval header is human-only and optional") {
  Sample sample;
  sample.elapsed_ns = 5;
  const std::vector<Column> columns;
  CHECK(format_interval(columns, sample, nullptr, {}, true) ==
        "#           time             counts unit events\n");
  CHECK(format_interval(columns, sample, nullptr, {}, false).empty());
  CHECK(format_interval(columns, sample, nullptr, with(OutputFormat::csv), true).empty());
  CHECK(format_interval(columns, sample, nullptr, with(OutputFormat::json), true).empty());
}

TEST_CASE("a separator of several characters is used as given") {
  FormatOptions options = with(OutputFormat::csv);
  options.separator = " | ";
  CHECK(lines_of(format_report(software_report(), options)).at(1) ==
        "10 |  | context-switches | 1000000000 | 100.00 | 20.000 | /sec");  // 10 per 500 ms of task-clock
}

TEST_CASE("the largest counts print as perf prints them, through a double") {
  Report report;
  constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
  report.columns = {column("instructions")};
  report.totals = {Count{kMax, kMax, kMax}};
  // Wider than perf's 18 columns: printf does not cut, neither do we.
  FormatOptions en_us;
  en_us.numeric = NumericLocale{".", ",", "\3\3"};
  CHECK(contains(format_report(report, en_us), "\n18,446,744,073,709,551,616      instructions "));
  CHECK(contains(format_report(report, {}), "\n18446744073709551616      instructions "));
  CHECK(contains(format_report(report, with(OutputFormat::csv)),
                 "18446744073709551616,,instructions,18446744073709551615,100.00,,"));
}

TEST_CASE("a counter that never ran while enabled shows perf's (0.00%)") {
  Report report;
  report.columns = {column("cpu-cycles", Scope::guest)};
  report.totals = {Count{0, 1000, 0}};
  const auto lines = lines_of(format_report(report, {}));
  CHECK(lines.at(3) == "     <not counted>      cpu-cycles:G" + std::string(13 + 35, ' ') + "  (0.00%)");
  CHECK(format_report(report, with(OutputFormat::csv)) ==
        "<not counted>,,cpu-cycles:G,0,0.00,,\n");
}
