#include "host-agent/counters/vcpu_selection.hpp"

#include <doctest/doctest.h>

#include <vector>

namespace {

using perfkvm::host::select_vcpus;
using perfkvm::host::VcpuThread;
using Wanted = std::optional<std::vector<std::uint32_t>>;

Wanted wanted(std::vector<std::uint32_t> vcpus) { return vcpus; }

// vCPU 1 of 0..3 is offline: it has no thread.
const std::vector<VcpuThread> kThreads{{0, 100}, {2, 102}, {3, 103}};

}  // namespace

TEST_CASE("select_vcpus: every thread without a list; the named ones, in vCPU order") {
  CHECK(select_vcpus(kThreads, std::nullopt).threads == kThreads);
  const auto named = select_vcpus(kThreads, wanted({3, 0}));
  CHECK_FALSE(named.missing);
  CHECK(named.threads == std::vector<VcpuThread>{{0, 100}, {3, 103}});
}

TEST_CASE("select_vcpus: the first named vCPU without a thread fails the selection") {
  auto offline = select_vcpus(kThreads, wanted({2, 1, 7}));
  CHECK(offline.missing == 1u);
  CHECK(offline.threads.empty());
  CHECK(select_vcpus(kThreads, wanted({7, 1})).missing == 7u);
  CHECK(select_vcpus({}, wanted({0})).missing == 0u);
}
