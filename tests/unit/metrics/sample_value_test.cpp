#include "host-agent/metrics/sample_value.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

namespace {

std::string spelt(double value) {
  std::string out;
  perfkvm::host::metrics::append_sample_value(value, out);
  return out;
}

}  // namespace

TEST_CASE("append_sample_value: integral values up to 2^53 as integers") {
  CHECK(spelt(0) == "0");
  CHECK(spelt(-0.0) == "0");
  CHECK(spelt(1) == "1");
  CHECK(spelt(-3) == "-3");
  CHECK(spelt(1e15) == "1000000000000000");
  CHECK(spelt(9007199254740992.0) == "9007199254740992");  // 2^53
  CHECK(spelt(-9007199254740992.0) == "-9007199254740992");
}

TEST_CASE("append_sample_value: other values in the shortest form that reads back") {
  CHECK(spelt(0.5) == "0.5");
  CHECK(spelt(12.5) == "12.5");
  CHECK(spelt(0.1) == "0.1");
  CHECK(spelt(1.0 / 3) == "0.3333333333333333");
  CHECK(spelt(1e-9) == "1e-09");
  CHECK(spelt(123 * 1e-9) == "1.23e-07");
  CHECK(spelt(std::numeric_limits<double>::denorm_min()) == "5e-324");
}

TEST_CASE("append_sample_value: beyond 2^53 in scientific form, never as digits alone") {
  CHECK(spelt(9007199254740994.0) == "9.007199254740994e+15");  // 2^53 + 2
  CHECK(spelt(-9007199254740994.0) == "-9.007199254740994e+15");
  CHECK(spelt(1e19) == "1e+19");
  CHECK(spelt(18446744073709551615.0) == "1.8446744073709552e+19");  // 2^64
  CHECK(spelt(std::numeric_limits<double>::max()) == "1.7976931348623157e+308");
}

TEST_CASE("append_sample_value: what it spells reads back as the same double") {
  for (double value : {0.1, 1.0 / 3, 123 * 1e-9, 2.5e-300, 6.02214076e23, 9007199254740994.0,
                       -12345.678}) {
    CAPTURE(value);
    CHECK(std::stod(spelt(value)) == value);
  }
}

TEST_CASE("append_sample_value: NaN and the infinities as the formats spell them") {
  CHECK(spelt(std::numeric_limits<double>::quiet_NaN()) == "NaN");
  CHECK(spelt(-std::numeric_limits<double>::quiet_NaN()) == "NaN");
  CHECK(spelt(std::numeric_limits<double>::infinity()) == "+Inf");
  CHECK(spelt(-std::numeric_limits<double>::infinity()) == "-Inf");
}

TEST_CASE("append_sample_value: appends") {
  std::string out = "x ";
  perfkvm::host::metrics::append_sample_value(2, out);
  CHECK(out == "x 2");
}
