// printf-compatible number formatting for perf-stat-like output. It never reads the process
// locale: the numeric conventions perf's human output follows (LC_NUMERIC, through printf after
// setlocale) come in as a NumericLocale value (numeric_locale.hpp reads them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace perfkvm::report {

// printf("%.*f", precision, value) in the C locale; value must be finite.
std::string fixed(double value, int precision);

// The LC_NUMERIC conventions printf follows (localeconv(3)); the default is the C locale's.
struct NumericLocale {
  std::string decimal_point = ".";
  std::string thousands_sep;  // empty: digits are never grouped
  // Group sizes from the right, one byte each: the last repeats, CHAR_MAX (or <= 0) ends the
  // grouping; empty: none. en_US: "\3\3".
  std::string grouping;
};

// What printf("%f") (or, with `group`, printf("%'f")) prints in `numeric` for the C-locale
// text `number` (fixed()'s): the locale's decimal point and, with `group`, the integer digits
// grouped as the locale says. en_US, grouped: "1234567.89" -> "1,234,567.89"; C: unchanged.
std::string localized(std::string_view number, const NumericLocale& numeric, bool group);

// printf("%*s") and printf("%-*s"): text longer than width is not cut.
std::string pad_left(std::string_view text, std::size_t width);
std::string pad_right(std::string_view text, std::size_t width);

// printf("%lu.%09lu") of a nanosecond count, as perf prints interval times: 1500000000 -> "1.500000000".
std::string seconds_text(std::uint64_t ns);

// floor(100 * part / whole) computed without overflow; whole must not be 0.
std::uint64_t integer_percent(std::uint64_t part, std::uint64_t whole);

}  // namespace perfkvm::report
