// Which of a domain's vCPU threads a measurement counts: all of them, or the vCPUs a start
// (`vcpus`) or perfkvm-host stat (--vcpu) names. Each caller words its own refusal.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "host-agent/threads/vcpu_threads.hpp"

namespace perfkvm::host {

struct VcpuSelection {
  std::vector<VcpuThread> threads;       // in the order of `available` (ascending vCPU index)
  std::optional<std::uint32_t> missing;  // the first wanted vCPU without a thread; then no threads
};

// The threads of the `wanted` vCPUs, or of every vCPU when there is no list. A wanted vCPU
// that has no thread in `available` (offline, or beyond the domain) makes the selection fail:
// counting the others would answer a question that was not asked.
VcpuSelection select_vcpus(std::span<const VcpuThread> available,
                           const std::optional<std::vector<std::uint32_t>>& wanted);

}  // namespace perfkvm::host
