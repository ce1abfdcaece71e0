#include <doctest/doctest.h>

#include <limits>
#include <string>

#include "report/number_format.hpp"

using namespace perfkvm::report;

TEST_CASE("fixed rounds like printf in the C locale") {
  CHECK(fixed(1.005, 2) == "1.00");  // 1.005 is 1.00499999... in binary, as printf sees it
  CHECK(fixed(0.125, 2) == "0.12");  // exact ties go to even, as glibc's printf
  CHECK(fixed(2.5, 0) == "2");
  CHECK(fixed(1234.5678, 3) == "1234.568");
  CHECK(fixed(1e20, 0) == "100000000000000000000");
  CHECK(fixed(0.0, 6) == "0.000000");
}

namespace {
const NumericLocale kC{};
const NumericLocale kEnUs{".", ",", "\3\3"};
const NumericLocale kDeDe{",", ".", "\3\3"};
const NumericLocale kEnIn{".", ",", "\3\2"};  // lakh grouping: sizes 3, then 2 repeating
}  // namespace

TEST_CASE("localized groups the integer digits only, as printf's ' flag in the locale") {
  CHECK(localized("0", kEnUs, true) == "0");
  CHECK(localized("999", kEnUs, true) == "999");
  CHECK(localized("1000", kEnUs, true) == "1,000");
  CHECK(localized("1234567.891", kEnUs, true) == "1,234,567.891");
  CHECK(localized("-1234", kEnUs, true) == "-1,234");
  CHECK(localized("123456.5", kEnUs, true) == "123,456.5");
  CHECK(localized("12345678", kEnIn, true) == "1,23,45,678");
}

TEST_CASE("localized: the C locale groups nothing, with or without the ' flag") {
  CHECK(localized("1234567.89", kC, true) == "1234567.89");
  CHECK(localized("1234567.89", kC, false) == "1234567.89");
}

TEST_CASE("localized: without grouping only the decimal point is the locale's") {
  CHECK(localized("1234567.89", kEnUs, false) == "1234567.89");
  CHECK(localized("1234567.89", kDeDe, false) == "1234567,89");
  CHECK(localized("1234567.89", kDeDe, true) == "1.234.567,89");
}

TEST_CASE("localized: CHAR_MAX in the grouping ends it, a size of 0 or less means none") {
  CHECK(localized("123456789", NumericLocale{".", ",", "\3\177"}, true) == "123456,789");
  CHECK(localized("123456789", NumericLocale{".", ",", std::string(1, '\0')}, true) ==
        "123456789");
  CHECK(localized("123456789", NumericLocale{".", "", "\3\3"}, true) == "123456789");
}

TEST_CASE("localized: a multibyte separator goes in whole") {
  // fr_FR in glibc 2.36: U+202F NARROW NO-BREAK SPACE between groups, ',' decimal point.
  CHECK(localized("1234567.5", NumericLocale{",", "\u202f", "\3\3"}, true) ==
        "1\u202f234\u202f567,5");
}

TEST_CASE("padding never cuts") {
  CHECK(pad_left("ab", 4) == "  ab");
  CHECK(pad_right("ab", 4) == "ab  ");
  CHECK(pad_left("abcdef", 4) == "abcdef");
  CHECK(pad_right("abcdef", 4) == "abcdef");
}

TEST_CASE("seconds_text is exact") {
  CHECK(seconds_text(0) == "0.000000000");
  CHECK(seconds_text(1) == "0.000000001");
  CHECK(seconds_text(2001000000) == "2.001000000");
  CHECK(seconds_text(std::numeric_limits<std::uint64_t>::max()) == "18446744073.709551615");
}

TEST_CASE("integer_percent truncates like perf's u64 arithmetic, without overflow") {
  CHECK(integer_percent(5, 8) == 62);
  CHECK(integer_percent(1, 3) == 33);
  constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
  CHECK(integer_percent(kMax, kMax) == 100);
  CHECK(integer_percent(kMax / 2, kMax) == 49);
  CHECK(integer_percent(kMax, 1) == kMax);  // malformed (running > enabled): saturates
}
