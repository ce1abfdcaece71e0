// How the exposition formats spell a sample value. One rule for both formats: they agree on
// numbers, and the golden files stay comparable.
#pragma once

#include <string>

namespace perfkvm::host::metrics {

// Appends `value` to `out`:
// - an integral value of magnitude up to 2^53 as an integer, without decimal point or exponent
//   ("12", "9007199254740992"): every such double is exactly that integer, and OpenMetrics
//   says integers have no decimal point. -0 prints as "0".
// - beyond 2^53, where doubles are no longer every integer, in the shortest scientific form
//   that reads back as the same double ("1e+19", "1.8446744073709552e+19"): OpenMetrics reads
//   digits alone as an exact integer, which such a value is not.
// - any other finite value in the shortest form that reads back as the same double
//   (std::to_chars: "0.5", "1e-09", "1.23e-07"); it has a decimal point or an exponent.
// - NaN, +Inf and -Inf as both formats spell them: "NaN", "+Inf", "-Inf".
void append_sample_value(double value, std::string& out);

}  // namespace perfkvm::host::metrics
