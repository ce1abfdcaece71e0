// Golden tests, one subcase per fixture case and output format:
//   tests/data/report/<case>/  inputs (see golden_cases.hpp)
//   expected.human / expected.csv / expected.json  what perf 6.1 prints for those numbers in
//   en_US.UTF-8, byte for byte (perf's trailing blanks included); expected-C.human the human
//   report in the C locale (CSV and JSON do not change); see tests/data/report/README.md. The
//   locales are loaded as the CLIs load them (numeric_locale.hpp; LOCPATH from tests/locales).
#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <cstdlib>
#include <sstream>

#include "golden_cases.hpp"
#include "report/numeric_locale.hpp"

using perfkvm::report::OutputFormat;
using perfkvm::test::data_dir;
using perfkvm::test::read_file;
using perfkvm::test::render_case;
using perfkvm::report::numeric_locale;

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
  const char* locale;
  const char* file;
};
constexpr FormatFile kFormats[] = {{OutputFormat::human, "en_US.UTF-8", "expected.human"},
                                   {OutputFormat::human, "C", "expected-C.human"},
                                   {OutputFormat::csv, "en_US.UTF-8", "expected.csv"},
                                   {OutputFormat::csv, "C", "expected.csv"},
                                   {OutputFormat::json, "en_US.UTF-8", "expected.json"},
                                   {OutputFormat::json, "C", "expected.json"}};

}  // namespace

TEST_CASE("report golden files") {
  // Without en_US.UTF-8 loaded the C locale's conventions would come back and the test fail
  // on every grouped line; say why first.
  const char* locpath = std::getenv("LOCPATH");
  INFO("LOCPATH=" << (locpath ? locpath : "(unset)") << " must hold en_US.UTF-8 (tests/locales)");
  REQUIRE(numeric_locale("en_US.UTF-8").thousands_sep == ",");
  const auto dirs = case_dirs();
  REQUIRE(dirs.size() >= 7);
  for (const auto& dir : dirs) {
    for (const auto& [format, locale, file] : kFormats) {
      const std::string name = dir.filename().string() + "/" + file + " in " + locale;
      SUBCASE(name.c_str()) {
        const std::string expected = read_file(dir / file);
        const std::string actual = render_case(dir, format, numeric_locale(locale));
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
