// A QEMU process's vCPU threads: the thread ids the host counts perf events on.
//
// libvirt always starts QEMU with debug-threads=on, so each vCPU thread is named
// "CPU <n>/KVM" or "CPU <n>/TCG" (n = QEMU's cpu_index = libvirt's vcpu id) in
// /proc/<pid>/task/<tid>/comm. Single-threaded TCG (-accel tcg,thread=single) instead runs
// every vCPU on one thread named "ALL CPUs/TCG": such a domain has no per-vCPU threads, and
// counting that thread once per vCPU would multiply the totals, so it yields no VcpuThread;
// it is reported as all_vcpus_tid with a problem, for a caller that wants the whole-VM count.
// libvirt's status XML (<vcpu id= pid=>) is the fallback when no thread carries a vCPU name
// (or the names are ambiguous).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "host-agent/threads/host_paths.hpp"
#include "host-agent/threads/qemu_process.hpp"

namespace perfkvm::host {

// One vCPU and the thread that runs it: what the threads module finds, what the counters count
// on (host-agent/counters), what a start's vCPU list selects from. The one such type.
struct VcpuThread {
  std::uint32_t vcpu = 0;  // QEMU's cpu_index, libvirt's vcpu id
  pid_t tid = 0;
  bool operator==(const VcpuThread&) const = default;
};

// The vCPU index in a thread name "CPU <n>/KVM" or "CPU <n>/TCG" (without the kernel's
// trailing newline); nullopt for any other name, and for non-canonical numbers ("CPU 01/KVM").
std::optional<std::uint32_t> vcpu_index_of_thread_name(std::string_view comm);

struct VcpuThreadScan {
  std::vector<VcpuThread> threads;     // sorted by vCPU index; empty when problem is set
  std::optional<pid_t> all_vcpus_tid;  // the "ALL CPUs/TCG" thread of single-threaded TCG
  std::string problem;                 // why threads is empty
};

// Reads the thread names of qemu_pid. Two threads claiming the same vCPU index make the
// result ambiguous: threads is then empty and problem says which.
VcpuThreadScan scan_vcpu_threads(const HostPaths& paths, pid_t qemu_pid);

// scan_vcpu_threads(...).threads.
std::vector<VcpuThread> find_vcpu_threads(const HostPaths& paths, pid_t qemu_pid);

struct VcpuResolution {
  std::optional<pid_t> qemu_pid;
  std::vector<VcpuThread> threads;     // sorted by vCPU index
  std::string source;                  // "comm" or "status-xml"; empty when threads is empty
  std::string problem;                 // why threads is empty; empty otherwise
  std::optional<pid_t> all_vcpus_tid;  // single-threaded TCG: the one thread running all vCPUs
};

// The domain's QEMU (locate_qemu_process), then its vCPU threads by name; if no thread has a
// vCPU name (or two claim the same vCPU), status_xml_fallback (libvirt's <vcpu id pid>)
// restricted to tids that exist under /proc/<qemu pid>/task. A fallback giving one thread to
// several vCPUs, or several threads to one vCPU, is refused. Never falls back for
// single-threaded TCG. Throws std::invalid_argument as locate_qemu_process does.
VcpuResolution resolve_vcpu_threads(const HostPaths& paths, std::string_view domain_name,
                                    std::string_view uuid,
                                    const std::vector<VcpuThread>& status_xml_fallback);

}  // namespace perfkvm::host
