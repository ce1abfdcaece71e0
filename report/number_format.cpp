#include "report/number_format.hpp"

#include <array>
#include <charconv>
#include <limits>
#include <stdexcept>

namespace perfkvm::report {

std::string fixed(double value, int precision) {
  // Enough for DBL_MAX in fixed notation (309 digits) plus the fraction.
  std::array<char, 400> buffer{};
  const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value,
                                    std::chars_format::fixed, precision);
  if (result.ec != std::errc{}) throw std::logic_error("fixed(): number does not fit");
  return std::string(buffer.data(), result.ptr);
}

std::string group_thousands(std::string_view number) {
  std::size_t first_digit = 0;
  while (first_digit < number.size() && (number[first_digit] < '0' || number[first_digit] > '9')) {
    ++first_digit;  // a sign
  }
  std::size_t end_digits = first_digit;
  while (end_digits < number.size() && number[end_digits] >= '0' && number[end_digits] <= '9') {
    ++end_digits;
  }
  std::string grouped(number.substr(0, first_digit));
  for (std::size_t i = first_digit; i < end_digits; ++i) {
    if (i > first_digit && (end_digits - i) % 3 == 0) grouped += ',';
    grouped += number[i];
  }
  grouped += number.substr(end_digits);
  return grouped;
}

std::string pad_left(std::string_view text, std::size_t width) {
  std::string padded;
  if (text.size() < width) padded.assign(width - text.size(), ' ');
  padded += text;
  return padded;
}

std::string pad_right(std::string_view text, std::size_t width) {
  std::string padded(text);
  if (padded.size() < width) padded.append(width - padded.size(), ' ');
  return padded;
}

std::string seconds_text(std::uint64_t ns) {
  constexpr std::uint64_t kNsPerSecond = 1'000'000'000;
  std::string fraction = std::to_string(ns % kNsPerSecond);
  return std::to_string(ns / kNsPerSecond) + '.' + std::string(9 - fraction.size(), '0') + fraction;
}

std::uint64_t integer_percent(std::uint64_t part, std::uint64_t whole) {
  // 128-bit so that 100 * part never wraps (running-time sums over many vCPUs grow large).
  __extension__ using Wide = unsigned __int128;
  const Wide percent = Wide{part} * 100 / whole;
  constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
  return percent > kMax ? kMax : static_cast<std::uint64_t>(percent);
}

}  // namespace perfkvm::report
