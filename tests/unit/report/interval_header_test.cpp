// perf stat -I's header rule (report::interval_header_due), which perfkvm -I and
// perfkvm-host stat -I both follow: before the first block, then before every 25th.
#include <doctest/doctest.h>

#include "report/formatter.hpp"

using perfkvm::report::interval_header_due;

TEST_CASE("the interval header is due before block 1, 26, 51, ... and no other") {
  std::vector<std::size_t> due;
  for (std::size_t printed = 0; printed < 80; ++printed) {
    if (interval_header_due(printed)) due.push_back(printed);
  }
  CHECK(due == std::vector<std::size_t>{0, 25, 50, 75});
}
