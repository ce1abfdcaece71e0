// --isolate: for the run, the guest's other user-space tasks are moved off the counted vCPUs
// (each keeps the rest of its CPUs) and given their own affinity back afterwards, so that the
// counted vCPUs run the command (pinned there, --pin) and little else. Best effort: a task
// whose only CPUs are the counted ones stays (moving it would leave it nowhere), as does one
// the kernel or its owner will not let go (EINVAL, EPERM); the run says how many.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "guest-agent/cpu_pinning.hpp"

namespace perfkvm::guest {

// The user-space tasks (threads) under proc_root, "/proc" in perfkvm: every
// <pid>/task/<tid> whose <tid>/stat does not carry PF_KTHREAD, except those of the processes
// in `except`. Tasks that vanish while being read are left out.
std::vector<pid_t> user_tasks(const std::filesystem::path& proc_root,
                              const std::vector<pid_t>& except);

class VcpuIsolation {
 public:
  // Moves each of `tasks` off `vcpus`. Never throws for a task: what cannot be moved is
  // counted and described.
  VcpuIsolation(const std::vector<pid_t>& tasks, const std::vector<std::uint32_t>& vcpus);
  // Gives every moved task its own mask back (those that exited meanwhile are skipped).
  ~VcpuIsolation();
  VcpuIsolation(const VcpuIsolation&) = delete;
  VcpuIsolation& operator=(const VcpuIsolation&) = delete;

  std::size_t moved() const { return moved_.size(); }
  std::size_t stayed() const { return stayed_; }
  // "moved 12 tasks off vCPU 1 for the run; 2 stayed (only vCPU 1 allowed: 1; EPERM: 1)".
  std::string summary() const;

 private:
  struct Moved {
    pid_t tid;
    CpuMask original;
  };
  std::string which_;  // "vCPU 1"
  std::vector<Moved> moved_;
  std::size_t stayed_ = 0;
  std::size_t confined_ = 0;  // of stayed_: no CPU left outside the counted ones
  std::size_t refused_ = 0;   // of stayed_: sched_setaffinity refused
  std::string first_refusal_;
};

}  // namespace perfkvm::guest
