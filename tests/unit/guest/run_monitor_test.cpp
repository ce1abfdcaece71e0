// RunMonitor's interval output, in-process: where the repeated column header goes. perf stat
// -I prints it before the first block and again before every 25th block after it; in
// interval mode over a fake host 51 blocks take seconds and their number depends on timing,
// so the monitor gets the samples directly here.
#include <doctest/doctest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "guest-agent/diagnostics.hpp"
#include "guest-agent/report_output.hpp"
#include "guest-agent/run_monitor.hpp"
#include "process.hpp"
#include "test_data.hpp"

using namespace perfkvm;
using namespace perfkvm::guest;

namespace {

const std::string kHeader = "#           time             counts unit events";

protocol::Started started_task_clock() {
  protocol::Started started;
  started.request_id = 1;
  started.columns = {{"task-clock", protocol::Scope::all, protocol::ColumnStatus::counted, ""}};
  started.vcpus = {0};
  started.interval_ms = 1000;
  return started;
}

// Sample `seq` one second per seq in, so that its block's time reads "SEQ.000000000".
protocol::Sample sample(std::uint64_t seq) {
  protocol::Sample sample;
  sample.request_id = 1;
  sample.seq = seq;
  sample.elapsed_ns = seq * 1'000'000'000;
  sample.totals = {protocol::Count{seq * 500'000'000, sample.elapsed_ns, sample.elapsed_ns}};
  return sample;
}

// What the monitor printed for these samples, a line each: "header", or the seq whose
// block it is (read back from the time column). Anything else fails the test.
std::vector<std::string> layout(const std::vector<protocol::Sample>& samples) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("perfkvm-run-monitor-" + std::to_string(::getpid()) + ".txt");
  std::ostringstream messages;
  Diagnostics diagnostics(messages);
  {
    ReportOutput output = ReportOutput::open(path.string());
    RunMonitor monitor(started_task_clock(), report::FormatOptions{}, output, diagnostics);
    for (const auto& each : samples) monitor.handle(each);
    REQUIRE(output.error().empty());
  }
  const std::string text = test::read_file(path);
  std::filesystem::remove(path);
  std::vector<std::string> result;
  for (const auto& line : test::lines_of(text)) {
    if (line == kHeader) {
      result.push_back("header");
      continue;
    }
    const auto begin = line.find_first_not_of(' ');
    const auto dot = line.find(".000000000 ");
    REQUIRE_MESSAGE((begin != std::string::npos && dot != std::string::npos && begin < dot),
                    "not a header nor a block line: '" << line << "'");
    result.push_back(line.substr(begin, dot - begin));
  }
  return result;
}

std::vector<protocol::Sample> samples(std::uint64_t first, std::uint64_t last) {
  std::vector<protocol::Sample> result;
  for (auto seq = first; seq <= last; ++seq) result.push_back(sample(seq));
  return result;
}

// "header" before the blocks of these seqs, in this order.
std::vector<std::string> expected(const std::vector<std::vector<std::uint64_t>>& groups) {
  std::vector<std::string> result;
  for (const auto& group : groups) {
    result.push_back("header");
    for (const auto seq : group) result.push_back(std::to_string(seq));
  }
  return result;
}

std::vector<std::uint64_t> seqs(std::uint64_t first, std::uint64_t last) {
  std::vector<std::uint64_t> result;
  for (auto seq = first; seq <= last; ++seq) result.push_back(seq);
  return result;
}

}  // namespace

TEST_CASE("the interval header comes before block 1 and again before every 25th block") {
  SUBCASE("one block: one header") { CHECK(layout(samples(1, 1)) == expected({{1}})); }
  SUBCASE("25 blocks: still one header") {
    CHECK(layout(samples(1, 25)) == expected({seqs(1, 25)}));
  }
  SUBCASE("26 and 51 blocks: again before blocks 26 and 51") {
    CHECK(layout(samples(1, 26)) == expected({seqs(1, 25), {26}}));
    CHECK(layout(samples(1, 51)) == expected({seqs(1, 25), seqs(26, 50), {51}}));
  }
  SUBCASE("blocks are counted, not samples: dropped ones (gaps, late, broken) do not count") {
    auto input = samples(1, 10);
    input.push_back(sample(5));  // out of order: dropped
    auto broken = sample(11);
    broken.totals.clear();  // no cells: dropped
    input.push_back(broken);
    auto rest = samples(13, 38);  // seq 12 never came: a gap, fine
    input.insert(input.end(), rest.begin(), rest.end());
    // Printed: 1-10, 13-38, i.e. 36 blocks; the 26th is seq 28.
    auto first = seqs(1, 10);
    auto more = seqs(13, 27);
    first.insert(first.end(), more.begin(), more.end());
    CHECK(layout(input) == expected({first, seqs(28, 38)}));
  }
}

namespace {

// Sample `seq` as above, or the answer to read `read_id` at `seconds` (numbered as the last
// sample before it, as a host does).
protocol::Sample snapshot(std::uint64_t read_id, double seconds, std::uint64_t last_seq) {
  protocol::Sample answer;
  answer.request_id = 1;
  answer.seq = last_seq;
  answer.read_id = read_id;
  answer.elapsed_ns = static_cast<std::uint64_t>(seconds * 1e9);
  answer.totals = {protocol::Count{answer.elapsed_ns / 2, answer.elapsed_ns, answer.elapsed_ns}};
  return answer;
}

// The CSV interval lines the monitor printed for these messages, after the requests.
std::vector<std::string> csv_blocks(
    const std::vector<std::pair<std::uint64_t, ControlRequest>>& requests,
    const std::vector<protocol::Sample>& messages,
    std::vector<std::pair<std::uint64_t, std::string>>* answers = nullptr) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("perfkvm-run-monitor-csv-" + std::to_string(::getpid()) + ".txt");
  std::ostringstream messages_out;
  Diagnostics diagnostics(messages_out);
  {
    ReportOutput output = ReportOutput::open(path.string());
    report::FormatOptions format;
    format.format = report::OutputFormat::csv;
    RunMonitor monitor(started_task_clock(), format, output, diagnostics);
    for (const auto& [read_id, request] : requests) monitor.expect_snapshot(read_id, request);
    for (const auto& each : messages) monitor.handle(each);
    if (answers) *answers = monitor.take_answers();
  }
  const std::string text = test::read_file(path);
  std::filesystem::remove(path);
  return test::lines_of(text);
}

}  // namespace

TEST_CASE("snapshots in interval mode: the block up to a mark is the old phase's, later blocks "
          "carry the new one; disabled intervals are not printed") {
  SUBCASE("a mark splits the interval it falls in") {
    std::vector<std::pair<std::uint64_t, std::string>> answers;
    const auto lines = csv_blocks({{1, {ControlAction::mark, "B"}}},
                                  {sample(1), snapshot(1, 1.5, 1), sample(2)}, &answers);
    CHECK(lines == std::vector<std::string>{
                       "     1.000000000,500.00,msec,task-clock,1000000000,100.00,0.500,CPUs utilized",
                       "     1.500000000,250.00,msec,task-clock,500000000,100.00,0.500,CPUs utilized",
                       "     2.000000000,250.00,msec,task-clock,500000000,100.00,0.500,CPUs utilized,B"});
    CHECK(answers == std::vector<std::pair<std::uint64_t, std::string>>{{1, "ok"}});
  }
  SUBCASE("disable prints up to the snapshot; enable starts the next block there") {
    const auto lines = csv_blocks(
        {{1, {ControlAction::disable, {}}}, {2, {ControlAction::enable, {}}}},
        {sample(1), snapshot(1, 1.5, 1), sample(2), snapshot(2, 2.5, 2), sample(3)});
    CHECK(lines == std::vector<std::string>{
                       "     1.000000000,500.00,msec,task-clock,1000000000,100.00,0.500,CPUs utilized",
                       "     1.500000000,250.00,msec,task-clock,500000000,100.00,0.500,CPUs utilized",
                       "     3.000000000,250.00,msec,task-clock,500000000,100.00,0.500,CPUs utilized"});
  }
  SUBCASE("an answer nobody asked for changes nothing, and answers nobody") {
    std::vector<std::pair<std::uint64_t, std::string>> answers;
    const auto lines = csv_blocks({{5, {ControlAction::disable, {}}}},
                                  {sample(1), snapshot(9, 1.5, 1), sample(2)}, &answers);
    CHECK(lines.size() == 2);
    CHECK(answers.empty());
  }
}

TEST_CASE("requests still waiting for their snapshot when the report comes, or the session goes, "
          "are answered with an error") {
  std::ostringstream messages;
  Diagnostics diagnostics(messages);
  ReportOutput output = ReportOutput::open(std::nullopt);
  {
    RunMonitor monitor(started_task_clock(), report::FormatOptions{}, output, diagnostics);
    monitor.expect_snapshot(1, {ControlAction::enable, {}});
    protocol::Report report;
    report.request_id = 1;
    monitor.handle(report);
    CHECK(monitor.take_answers() ==
          std::vector<std::pair<std::uint64_t, std::string>>{
              {1, "error: counting ended before the host read the counters"}});
  }
  {
    RunMonitor monitor(started_task_clock(), report::FormatOptions{}, output, diagnostics);
    monitor.expect_snapshot(2, {ControlAction::mark, "x"});
    monitor.expect_snapshot(3, {ControlAction::mark, "y"});
    // A refused read: replies come in order, so it is the oldest one waiting.
    monitor.handle(protocol::Error{"", 1, protocol::ErrorCode::rate_limited, "too fast", 10});
    monitor.lose_session("host gone");
    CHECK(monitor.take_answers() ==
          std::vector<std::pair<std::uint64_t, std::string>>{
              {2, "error: perfkvm-hostd: rate-limited: too fast"},
              {3, "error: the session with perfkvm-hostd is gone"}});
  }
}

TEST_CASE("a new session counts on: its request's counts are added to the lost one's, in the "
          "run's time, the time between a gap; other columns or vCPUs are refused") {
  std::ostringstream messages;
  Diagnostics diagnostics(messages);
  ReportOutput output = ReportOutput::open(std::nullopt);
  RunMonitor monitor(started_task_clock(), report::FormatOptions{}, output, diagnostics);
  const auto begun = std::chrono::steady_clock::now();  // at or after the monitor's start
  monitor.handle(sample(1));  // 1 s in: 500 ms counted
  monitor.lose_session("host gone");
  REQUIRE(monitor.resumable());

  auto other_columns = started_task_clock();
  other_columns.columns.front().event = "cpu-clock";
  CHECK(monitor.resume(other_columns, begun) ==
        "the host now counts other columns (its events or policy changed)");
  auto other_vcpus = started_task_clock();
  other_vcpus.vcpus = {0, 1};
  CHECK(monitor.resume(other_vcpus, begun) == "the host now counts other vCPUs");
  CHECK(monitor.lost());

  // The new request began 3 s into the run (never before the last reading: clocks differ).
  auto second = started_task_clock();
  second.request_id = 2;
  CHECK(monitor.resume(second, begun + std::chrono::seconds(3)).empty());
  CHECK(monitor.counting());
  REQUIRE(monitor.gaps().size() == 1);
  CHECK(monitor.gaps().front().from_ns == 1'000'000'000);
  CHECK(monitor.gaps().front().to_ns >= 3'000'000'000);
  CHECK(messages.str().find("a new session with perfkvm-hostd; counting again (not counted from "
                            "1.000 s to 3.0") != std::string::npos);

  protocol::Report report;
  report.request_id = 2;
  report.duration_ns = 2'000'000'000;
  report.columns = started_task_clock().columns;
  report.totals = {protocol::Count{1'200'000'000, 2'000'000'000, 2'000'000'000}};
  monitor.handle(report);
  REQUIRE(monitor.report());
  CHECK(monitor.report()->duration_ns == 3'000'000'000);  // counted: 1 s + 2 s
  CHECK(monitor.report()->totals.front() ==
        protocol::Cell(protocol::Count{1'700'000'000, 3'000'000'000, 3'000'000'000}));
}
