#include "guest-agent/cpu_pinning.hpp"

#include <sched.h>

#include <cerrno>
#include <cstring>

#include "guest-agent/diagnostics.hpp"

namespace perfkvm::guest {

std::string vcpu_list_text(const std::vector<std::uint32_t>& vcpus) {
  std::string text;
  std::size_t i = 0;
  while (i < vcpus.size()) {
    std::size_t last = i;
    while (last + 1 < vcpus.size() && vcpus[last + 1] == vcpus[last] + 1) ++last;
    if (!text.empty()) text += ',';
    text += std::to_string(vcpus[i]);
    if (last >= i + 2) {  // three or more in a row: a range
      text += '-' + std::to_string(vcpus[last]);
      i = last + 1;
    } else {
      ++i;
    }
  }
  return text;
}

void pin_to_vcpus(pid_t pid, const std::vector<std::uint32_t>& vcpus) {
  if (vcpus.empty()) throw GuestError("--pin: no vCPU is counted, so there is none to pin to");
  const std::string which = (vcpus.size() == 1 ? "vCPU " : "vCPUs ") + vcpu_list_text(vcpus);
  // Sized for the 4096 vCPUs the protocol allows, not glibc's 1024-CPU cpu_set_t.
  constexpr std::size_t kMaxCpus = 4096;
  cpu_set_t* set = CPU_ALLOC(kMaxCpus);
  if (set == nullptr) throw GuestError("--pin: out of memory");
  const std::size_t size = CPU_ALLOC_SIZE(kMaxCpus);
  CPU_ZERO_S(size, set);
  for (const auto vcpu : vcpus) {
    if (vcpu < kMaxCpus) CPU_SET_S(vcpu, size, set);
  }
  const int result = ::sched_setaffinity(pid, size, set);
  const int error = errno;
  CPU_FREE(set);
  if (result != 0) {
    throw GuestError("--pin: cannot run the command on " + which + ": sched_setaffinity: " +
                     std::strerror(error) +
                     (error == EINVAL ? " (is that CPU offline in this guest, or outside its cpuset?)"
                                      : ""));
  }
}

}  // namespace perfkvm::guest
