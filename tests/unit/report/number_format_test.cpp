#include <doctest/doctest.h>

#include <limits>

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

TEST_CASE("group_thousands groups the integer digits only") {
  CHECK(group_thousands("0") == "0");
  CHECK(group_thousands("999") == "999");
  CHECK(group_thousands("1000") == "1,000");
  CHECK(group_thousands("1234567.891") == "1,234,567.891");
  CHECK(group_thousands("-1234") == "-1,234");
  CHECK(group_thousands("123456.5") == "123,456.5");
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
