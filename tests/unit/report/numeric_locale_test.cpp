// The human report under real locales, as perf stat prints it after setlocale(LC_ALL, ""): the
// counts grouped by LC_NUMERIC's separator (none in C, C.UTF-8), every number with its decimal
// point; -B and --no-big-num; CSV and JSON the same in every locale. The locales come from
// tests/locales (LOCPATH), compiled from Debian's `locales` sources by the build.
#include <doctest/doctest.h>

#include <clocale>
#include <cstdlib>
#include <string>

#include "report/formatter.hpp"
#include "report/numeric_locale.hpp"
#include "test_columns.hpp"

using namespace perfkvm::report;
using namespace perfkvm::protocol;
using perfkvm::test::column;

namespace {

// 1234.57 msec of task-clock and 1234567 context switches over 1.5 s.
Report busy_report() {
  Report report;
  report.duration_ns = 1500000000;
  report.columns = {column("task-clock"), column("context-switches")};
  report.totals = {Count{1234567890, 1500000000, 1500000000},
                   Count{1234567, 1500000000, 1500000000}};
  return report;
}

// A locale the build compiled (or glibc's own C, POSIX): without it the test would prove
// nothing, so it fails instead.
NumericLocale loaded(const std::string& name) {
  // setlocale, not newlocale: Debian 12's newlocale leaks its copy of LOCPATH on every call
  // (LeakSanitizer in build-asan/ reports it).
  const std::string previous = std::setlocale(LC_NUMERIC, nullptr);
  const bool loadable = std::setlocale(LC_NUMERIC, name.c_str()) != nullptr;
  std::setlocale(LC_NUMERIC, previous.c_str());
  const char* locpath_variable = std::getenv("LOCPATH");
  const std::string locpath = locpath_variable != nullptr ? locpath_variable : "(unset)";
  INFO("locale " << name << " cannot be loaded with LOCPATH=" << locpath
                 << " (tests/locales builds it)");
  REQUIRE(loadable);
  return numeric_locale(name);
}

std::string human(const NumericLocale& numeric, bool big_num = true) {
  FormatOptions options;
  options.numeric = numeric;
  options.big_num = big_num;
  return format_report(busy_report(), options);
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("C and POSIX: no separators, as perf in the C locale") {
  for (const char* name : {"C", "POSIX"}) {
    CAPTURE(name);
    const std::string text = human(loaded(name));
    CHECK(contains(text, "           1234.57 msec task-clock                       #    0.823 CPUs utilized"));
    CHECK(contains(text, "           1234567      context-switches"));
    CHECK(contains(text, "       1.500000000 seconds time elapsed"));
  }
}

TEST_CASE("C.UTF-8 groups nothing either") {
  const NumericLocale numeric = loaded("C.UTF-8");
  CHECK(numeric.thousands_sep.empty());
  CHECK(contains(human(numeric), "           1234.57 msec task-clock"));
}

TEST_CASE("en_US.UTF-8: ',' between groups of three") {
  const std::string text = human(loaded("en_US.UTF-8"));
  CHECK(contains(text, "          1,234.57 msec task-clock                       #    0.823 CPUs utilized"));
  CHECK(contains(text, "         1,234,567      context-switches                 #  999.999 K/sec"));
}

TEST_CASE("de_DE.UTF-8: '.' between groups and ',' as the decimal point, in every number") {
  const std::string text = human(loaded("de_DE.UTF-8"));
  CHECK(contains(text, "          1.234,57 msec task-clock                       #    0,823 CPUs utilized"));
  CHECK(contains(text, "       1,500000000 seconds time elapsed"));
}

TEST_CASE("--no-big-num drops the separators of any locale; -B (the default) cannot add one to C") {
  CHECK(contains(human(loaded("en_US.UTF-8"), false), "           1234.57 msec task-clock"));
  CHECK(contains(human(loaded("de_DE.UTF-8"), false), "           1234,57 msec task-clock"));
  CHECK(contains(human(loaded("C"), true), "           1234.57 msec task-clock"));
}

TEST_CASE("CSV and JSON are the same in every locale") {
  for (const char* name : {"C", "en_US.UTF-8", "de_DE.UTF-8"}) {
    CAPTURE(name);
    FormatOptions csv;
    csv.format = OutputFormat::csv;
    FormatOptions json;
    json.format = OutputFormat::json;
    const std::string c_csv = format_report(busy_report(), csv);
    const std::string c_json = format_report(busy_report(), json);
    csv.numeric = json.numeric = loaded(name);
    CHECK(format_report(busy_report(), csv) == c_csv);
    CHECK(format_report(busy_report(), json) == c_json);
    CHECK(contains(c_csv, "1234.57,msec,task-clock,"));
  }
}

TEST_CASE("the locale comes from the environment as setlocale(LC_ALL, \"\") takes it") {
  const char* saved = std::getenv("LC_ALL");
  const std::string restore = saved == nullptr ? "" : saved;
  ::setenv("LC_ALL", "en_US.UTF-8", 1);
  CHECK(numeric_locale("").thousands_sep == ",");
  ::setenv("LC_ALL", "C", 1);
  CHECK(numeric_locale("").thousands_sep.empty());
  if (saved == nullptr) {
    ::unsetenv("LC_ALL");
  } else {
    ::setenv("LC_ALL", restore.c_str(), 1);
  }
}

TEST_CASE("a locale that is not installed counts as C, as perf falls back when setlocale fails") {
  const NumericLocale numeric = numeric_locale("xx_XX.UTF-8");
  CHECK(numeric.decimal_point == ".");
  CHECK(numeric.thousands_sep.empty());
}
