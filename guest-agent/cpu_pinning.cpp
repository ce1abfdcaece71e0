#include "guest-agent/cpu_pinning.hpp"

#include <sched.h>

#include <cerrno>
#include <cstring>
#include <new>

#include "guest-agent/diagnostics.hpp"

namespace perfkvm::guest {

namespace {

constexpr std::size_t kMaxCpus = CpuMask::kMaxCpus;

}  // namespace

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

void CpuMask::Free::operator()(cpu_set_t* set) const { CPU_FREE(set); }

CpuMask::CpuMask() : set_(CPU_ALLOC(kMaxCpus)) {
  if (!set_) throw std::bad_alloc();
  CPU_ZERO_S(CPU_ALLOC_SIZE(kMaxCpus), set_.get());
}

bool CpuMask::test(std::uint32_t cpu) const {
  return cpu < kMaxCpus && CPU_ISSET_S(cpu, CPU_ALLOC_SIZE(kMaxCpus), set_.get());
}

void CpuMask::set(std::uint32_t cpu, bool on) {
  if (cpu >= kMaxCpus) return;
  if (on) {
    CPU_SET_S(cpu, CPU_ALLOC_SIZE(kMaxCpus), set_.get());
  } else {
    CPU_CLR_S(cpu, CPU_ALLOC_SIZE(kMaxCpus), set_.get());
  }
}

bool CpuMask::empty() const { return CPU_COUNT_S(CPU_ALLOC_SIZE(kMaxCpus), set_.get()) == 0; }

bool CpuMask::read(pid_t tid) {
  return ::sched_getaffinity(tid, CPU_ALLOC_SIZE(kMaxCpus), set_.get()) == 0;
}

bool CpuMask::apply(pid_t tid) const {
  return ::sched_setaffinity(tid, CPU_ALLOC_SIZE(kMaxCpus), set_.get()) == 0;
}

void pin_to_vcpus(pid_t pid, const std::vector<std::uint32_t>& vcpus) {
  if (vcpus.empty()) throw GuestError("--pin: no vCPU is counted, so there is none to pin to");
  const std::string which = (vcpus.size() == 1 ? "vCPU " : "vCPUs ") + vcpu_list_text(vcpus);
  CpuMask mask;
  for (const auto vcpu : vcpus) mask.set(vcpu, true);
  if (!mask.apply(pid)) {
    const int error = errno;
    throw GuestError("--pin: cannot run the command on " + which + ": sched_setaffinity: " +
                     std::strerror(error) +
                     (error == EINVAL ? " (is that CPU offline in this guest, or outside its cpuset?)"
                                      : ""));
  }
}

}  // namespace perfkvm::guest
