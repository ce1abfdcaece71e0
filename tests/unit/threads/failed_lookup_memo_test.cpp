// A failed vCPU thread lookup is remembered for a second (failed_lookup_memo.hpp).
#include "host-agent/threads/failed_lookup_memo.hpp"

#include <doctest/doctest.h>

using namespace std::chrono_literals;
using perfkvm::host::FailedLookupMemo;
using perfkvm::host::VcpuResolution;

TEST_CASE("failed lookup memo: a failure is recalled for a second, a success never") {
  const auto t0 = FailedLookupMemo::Clock::time_point{} + 100s;
  FailedLookupMemo memo;
  CHECK_FALSE(memo.recall(t0));
  VcpuResolution failed;
  failed.problem = "no QEMU process of domain 'web1' (not running?)";
  memo.record(failed, t0);
  const auto recalled = memo.recall(t0 + 999ms);
  REQUIRE(recalled);
  CHECK(recalled->problem == failed.problem);
  CHECK_FALSE(memo.recall(t0 + 1s));  // a second later the host is asked again

  VcpuResolution found;
  found.threads = {{0, 101}};
  memo.record(failed, t0 + 2s);
  memo.record(found, t0 + 2s + 1ms);  // found: the failure is forgotten at once
  CHECK_FALSE(memo.recall(t0 + 2s + 2ms));
}
