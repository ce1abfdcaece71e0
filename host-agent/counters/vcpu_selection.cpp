#include "host-agent/counters/vcpu_selection.hpp"

#include <algorithm>

namespace perfkvm::host {

VcpuSelection select_vcpus(std::span<const VcpuThread> available,
                           const std::optional<std::vector<std::uint32_t>>& wanted) {
  VcpuSelection selection;
  if (!wanted) {
    selection.threads.assign(available.begin(), available.end());
    return selection;
  }
  const auto has_thread = [&](std::uint32_t vcpu) {
    return std::any_of(available.begin(), available.end(),
                       [&](const VcpuThread& thread) { return thread.vcpu == vcpu; });
  };
  if (const auto missing = std::find_if_not(wanted->begin(), wanted->end(), has_thread);
      missing != wanted->end()) {
    selection.missing = *missing;
    return selection;
  }
  std::copy_if(available.begin(), available.end(), std::back_inserter(selection.threads),
               [&](const VcpuThread& thread) {
                 return std::find(wanted->begin(), wanted->end(), thread.vcpu) != wanted->end();
               });
  return selection;
}

}  // namespace perfkvm::host
