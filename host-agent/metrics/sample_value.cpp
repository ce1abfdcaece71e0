#include "host-agent/metrics/sample_value.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>

namespace perfkvm::host::metrics {

namespace {

// 2^53: above it, doubles are not every integer, and "integral" stops meaning "exact".
constexpr double kLargestExactInteger = 9007199254740992.0;

using Buffer = std::array<char, 32>;  // any int64, any double in shortest form (24 characters)

}  // namespace

void append_sample_value(double value, std::string& out) {
  if (std::isnan(value)) {
    out += "NaN";
    return;
  }
  if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
    return;
  }
  Buffer buffer{};
  char* const first = buffer.data();
  char* const last = first + buffer.size();
  std::to_chars_result result{};
  if (std::fabs(value) > kLargestExactInteger) {
    result = std::to_chars(first, last, value, std::chars_format::scientific);
  } else if (std::trunc(value) == value) {
    result = std::to_chars(first, last, static_cast<std::int64_t>(value));
  } else {
    // Not integral, so the shortest form has a decimal point or an exponent.
    result = std::to_chars(first, last, value);
  }
  out.append(first, result.ptr);
}

}  // namespace perfkvm::host::metrics
