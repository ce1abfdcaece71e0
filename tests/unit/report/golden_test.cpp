// Golden tests, one subcase per fixture case and output format:
//   tests/data/report/<case>/  inputs (see golden_cases.hpp)
//   expected.human / expected.csv / expected.json  what perf 6.1 prints for those numbers,
//   byte for byte (perf's trailing blanks included); see tests/data/report/README.md.
#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <sstream>

#include "golden_cases.hpp"

using perfkvm::report::OutputFormat;
using perfkvm::test::data_dir;
using perfkvm::test::read_file;
using perfkvm::test::render_case;

namespace {

std::vector<std::filesystem::path> case_dirs() {
  std::vector<std::filesystem::path> dirs;
  for (const auto& entry : std::filesystem::directory_iterator(data_dir() / "report")) {
    if (entry.is_directory()) dirs.push_back(entry.path());
  }
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

struct FormatFile {
  OutputFormat format;
  const char* file;
};
constexpr FormatFile kFormats[] = {{OutputFormat::human, "expected.human"},
                                   {OutputFormat::csv, "expected.csv"},
                                   {OutputFormat::json, "expected.json"}};

}  // namespace

TEST_CASE("report golden files") {
  const auto dirs = case_dirs();
  REQUIRE(dirs.size() >= 7);
  for (const auto& dir : dirs) {
    for (const auto& [format, file] : kFormats) {
      const std::string name = dir.filename().string() + "/" + file;
      SUBCASE(name.c_str()) {
        const std::string expected = read_file(dir / file);
        const std::string actual = render_case(dir, format);
        CHECK(actual == expected);
      }
    }
  }
}

TEST_CASE("every JSON line of the golden files is one JSON object with perf's keys (a continuation: the metric's)") {
  for (const auto& dir : case_dirs()) {
    SUBCASE(dir.filename().c_str()) {
      std::istringstream lines(render_case(dir, OutputFormat::json));
      for (std::string line; std::getline(lines, line);) {
        const auto object = boost::json::parse(line).as_object();
        // perf's continuation object (a second metric of the line before) has the metric only.
        const bool continuation = !object.contains("counter-value");
        if (continuation) {
          CHECK_MESSAGE(object.contains("metric-value"), line);
          CHECK_MESSAGE(object.contains("metric-unit"), line);
          continue;
        }
        for (const char* key : {"counter-value", "unit", "event", "event-runtime", "pcnt-running",
                                "metric-value", "metric-unit"}) {
          CHECK_MESSAGE(object.contains(key), line);
        }
      }
    }
  }
}
