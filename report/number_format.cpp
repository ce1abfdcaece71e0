#include "report/number_format.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>
#include <stdexcept>
#include <vector>

namespace perfkvm::report {

std::string fixed(double value, int precision) {
  // Enough for DBL_MAX in fixed notation (309 digits) plus the fraction.
  std::array<char, 400> buffer{};
  const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value,
                                    std::chars_format::fixed, precision);
  if (result.ec != std::errc{}) throw std::logic_error("fixed(): number does not fit");
  return std::string(buffer.data(), result.ptr);
}

namespace {

// Where the separators go in a run of `digits` integer digits: the number of digits before
// each one, from the left (glibc's printf reads the grouping string the same way).
std::vector<std::size_t> separator_positions(std::size_t digits, std::string_view grouping) {
  std::vector<std::size_t> positions;
  auto stops = [](char size) { return size <= 0 || size == std::numeric_limits<char>::max(); };
  if (grouping.empty() || stops(grouping[0])) return positions;
  std::size_t group = 0;
  std::size_t remaining = digits;
  auto size = static_cast<std::size_t>(grouping[0]);
  while (remaining > size) {
    remaining -= size;
    positions.push_back(remaining);
    if (group + 1 < grouping.size()) {  // else the last size repeats
      ++group;
      if (stops(grouping[group])) break;
      size = static_cast<std::size_t>(grouping[group]);
    }
  }
  std::reverse(positions.begin(), positions.end());
  return positions;
}

}  // namespace

std::string localized(std::string_view number, const NumericLocale& numeric, bool group) {
  std::size_t first_digit = 0;
  while (first_digit < number.size() && (number[first_digit] < '0' || number[first_digit] > '9')) {
    ++first_digit;  // a sign
  }
  std::size_t end_digits = first_digit;
  while (end_digits < number.size() && number[end_digits] >= '0' && number[end_digits] <= '9') {
    ++end_digits;
  }
  std::string text(number.substr(0, first_digit));
  std::vector<std::size_t> separators;
  if (group && !numeric.thousands_sep.empty()) {
    separators = separator_positions(end_digits - first_digit, numeric.grouping);
  }
  auto next = separators.begin();
  for (std::size_t i = first_digit; i < end_digits; ++i) {
    if (next != separators.end() && i - first_digit == *next) {
      text += numeric.thousands_sep;
      ++next;
    }
    text += number[i];
  }
  std::string_view rest = number.substr(end_digits);
  if (!rest.empty() && rest.front() == '.') {
    text += numeric.decimal_point;
    rest.remove_prefix(1);
  }
  text += rest;
  return text;
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
