// --pin: the command runs only on the vCPUs that are counted, so that what they count is
// mostly the command (anything else the guest runs there is still counted: see README).
// A guest's CPU n is its vCPU n: libvirt numbers vCPUs in the order QEMU presents them, which
// is the order the guest kernel numbers its CPUs.
#pragma once

#include <sched.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace perfkvm::guest {

// A CPU affinity mask for up to 4096 CPUs (the protocol's vCPU ceiling).
class CpuMask {
 public:
  static constexpr std::size_t kMaxCpus = 4096;
  CpuMask();
  bool test(std::uint32_t cpu) const;
  void set(std::uint32_t cpu, bool on);
  bool empty() const;
  // sched_getaffinity / sched_setaffinity of task `tid`; false with errno set on failure.
  bool read(pid_t tid);
  bool apply(pid_t tid) const;

 private:
  struct Free {
    void operator()(cpu_set_t* set) const;
  };
  std::unique_ptr<cpu_set_t, Free> set_;
};

// "1", "0,2-3": a vCPU list as --vcpu takes it (ascending; runs of three or more as ranges).
std::string vcpu_list_text(const std::vector<std::uint32_t>& vcpus);

// Sets the CPU affinity of process `pid` (the command, still at its gate, so that all it
// starts inherits it) to exactly `vcpus`. Throws GuestError naming the vCPUs and the reason
// (an offline CPU, a cpuset that excludes it).
void pin_to_vcpus(pid_t pid, const std::vector<std::uint32_t>& vcpus);

}  // namespace perfkvm::guest
