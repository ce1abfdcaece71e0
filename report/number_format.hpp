// printf-compatible number formatting for perf-stat-like output. It never depends on the
// process locale: perf's output follows LC_NUMERIC, perfkvm always prints what perf prints in
// an en_US.UTF-8 locale ('.' decimal point, ',' between groups of three integer digits).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace perfkvm::report {

// printf("%.*f", precision, value) in the C locale; value must be finite.
std::string fixed(double value, int precision);

// printf's ' flag in en_US: "1234567.89" -> "1,234,567.89" (only the integer digits are grouped).
std::string group_thousands(std::string_view number);

// printf("%*s") and printf("%-*s"): text longer than width is not cut.
std::string pad_left(std::string_view text, std::size_t width);
std::string pad_right(std::string_view text, std::size_t width);

// printf("%lu.%09lu") of a nanosecond count, as perf prints interval times: 1500000000 -> "1.500000000".
std::string seconds_text(std::uint64_t ns);

// floor(100 * part / whole) computed without overflow; whole must not be 0.
std::uint64_t integer_percent(std::uint64_t part, std::uint64_t whole);

}  // namespace perfkvm::report
