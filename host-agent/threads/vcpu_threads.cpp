#include "host-agent/threads/vcpu_threads.hpp"

#include <algorithm>
#include <charconv>
#include <set>

#include "host-agent/threads/proc_files.hpp"

namespace perfkvm::host {
namespace {

// The kernel caps thread names at 15 bytes; a longer comm file is not a kernel's.
constexpr std::size_t kMaxCommBytes = 64;
constexpr std::string_view kAllVcpusThreadName = "ALL CPUs/TCG";

std::string thread_list(const std::vector<VcpuThread>& threads) {
  std::string text;
  for (const auto& thread : threads) {
    text +=
        (text.empty() ? "" : ", ") + std::to_string(thread.vcpu) + ":" + std::to_string(thread.tid);
  }
  return text;
}

// First pair of entries sharing a vCPU index or a tid, as a message; empty when none.
std::string find_conflict(std::vector<VcpuThread> threads) {
  std::sort(threads.begin(), threads.end(), [](const VcpuThread& a, const VcpuThread& b) {
    return a.vcpu < b.vcpu || (a.vcpu == b.vcpu && a.tid < b.tid);
  });
  for (std::size_t i = 1; i < threads.size(); ++i) {
    if (threads[i].vcpu == threads[i - 1].vcpu) {
      return "threads " + std::to_string(threads[i - 1].tid) + " and " +
             std::to_string(threads[i].tid) + " both claim vCPU " + std::to_string(threads[i].vcpu);
    }
  }
  std::sort(threads.begin(), threads.end(), [](const VcpuThread& a, const VcpuThread& b) {
    return a.tid < b.tid || (a.tid == b.tid && a.vcpu < b.vcpu);
  });
  for (std::size_t i = 1; i < threads.size(); ++i) {
    if (threads[i].tid == threads[i - 1].tid) {
      return "thread " + std::to_string(threads[i].tid) + " runs both vCPU " +
             std::to_string(threads[i - 1].vcpu) + " and vCPU " + std::to_string(threads[i].vcpu) +
             " (single-threaded TCG?), so they cannot be counted apart";
    }
  }
  return {};
}

void sort_by_vcpu(std::vector<VcpuThread>& threads) {
  std::sort(threads.begin(), threads.end(),
            [](const VcpuThread& a, const VcpuThread& b) { return a.vcpu < b.vcpu; });
}

}  // namespace

std::optional<std::uint32_t> vcpu_index_of_thread_name(std::string_view comm) {
  constexpr std::string_view kPrefix = "CPU ";
  if (!comm.starts_with(kPrefix)) return std::nullopt;
  comm.remove_prefix(kPrefix.size());
  if (!comm.ends_with("/KVM") && !comm.ends_with("/TCG")) return std::nullopt;
  comm.remove_suffix(4);
  // QEMU prints the index with %d: no sign, no leading zeros.
  if (comm.empty() || comm.front() < '0' || comm.front() > '9' ||
      (comm.size() > 1 && comm.front() == '0')) {
    return std::nullopt;
  }
  std::uint32_t index = 0;
  const auto [end, ec] = std::from_chars(comm.data(), comm.data() + comm.size(), index);
  if (ec != std::errc() || end != comm.data() + comm.size()) return std::nullopt;
  return index;
}

VcpuThreadScan scan_vcpu_threads(const HostPaths& paths, pid_t qemu_pid) {
  VcpuThreadScan scan;
  const auto task_dir = paths.proc_root / std::to_string(qemu_pid) / "task";
  const auto tids = proc::list_pids(task_dir);
  if (!tids) {
    scan.problem = "QEMU process " + std::to_string(qemu_pid) + " no longer exists (" +
                   task_dir.string() + ")";
    return scan;
  }
  for (const pid_t tid : *tids) {
    const auto read = proc::read_bounded(task_dir / std::to_string(tid) / "comm", kMaxCommBytes);
    // Skipped: a thread that exited meanwhile, or a name no kernel wrote.
    if (!read.bytes || read.truncated) continue;
    std::string_view comm = *read.bytes;
    if (comm.ends_with('\n')) comm.remove_suffix(1);
    if (const auto vcpu = vcpu_index_of_thread_name(comm)) {
      scan.threads.push_back({*vcpu, tid});
    } else if (comm == kAllVcpusThreadName) {
      scan.all_vcpus_tid = tid;
    }
  }
  if (const auto conflict = find_conflict(scan.threads); !conflict.empty()) {
    scan.threads.clear();
    scan.problem =
        "QEMU process " + std::to_string(qemu_pid) + ": thread names are ambiguous: " + conflict;
  } else if (scan.threads.empty()) {
    scan.problem = "no thread of QEMU process " + std::to_string(qemu_pid) +
                   " is named 'CPU <n>/KVM' or 'CPU <n>/TCG' (" + task_dir.string() + ")";
  }
  sort_by_vcpu(scan.threads);
  return scan;
}

std::vector<VcpuThread> find_vcpu_threads(const HostPaths& paths, pid_t qemu_pid) {
  return scan_vcpu_threads(paths, qemu_pid).threads;
}

VcpuResolution resolve_vcpu_threads(const HostPaths& paths, std::string_view domain_name,
                                    std::string_view uuid,
                                    const std::vector<VcpuThread>& status_xml_fallback) {
  VcpuResolution resolution;
  const auto lookup = locate_qemu_process(paths, domain_name, uuid);
  resolution.qemu_pid = lookup.pid;
  if (!lookup.pid) {
    resolution.problem = lookup.problem;
    return resolution;
  }
  const pid_t pid = *lookup.pid;
  const std::string who =
      "domain '" + proc::printable(domain_name) + "' (QEMU pid " + std::to_string(pid) + ")";

  auto scan = scan_vcpu_threads(paths, pid);
  resolution.all_vcpus_tid = scan.all_vcpus_tid;
  if (!scan.threads.empty()) {
    resolution.threads = std::move(scan.threads);
    resolution.source = "comm";
    return resolution;
  }
  if (scan.all_vcpus_tid) {
    // libvirt's status XML would list this same thread for every vCPU: nothing to fall back to.
    resolution.problem = who + " runs single-threaded TCG: its thread " +
                         std::to_string(*scan.all_vcpus_tid) +
                         " 'ALL CPUs/TCG' runs every vCPU, so vCPUs cannot be counted one by one";
    return resolution;
  }
  if (status_xml_fallback.empty()) {
    resolution.problem =
        who + ": " + scan.problem + ", and libvirt's status XML lists no vCPU threads";
    return resolution;
  }
  if (const auto conflict = find_conflict(status_xml_fallback); !conflict.empty()) {
    resolution.problem =
        who + ": " + scan.problem + ", and libvirt's status XML is unusable: " + conflict;
    return resolution;
  }
  const auto tids = proc::list_pids(paths.proc_root / std::to_string(pid) / "task");
  std::set<pid_t> live;
  if (tids) live.insert(tids->begin(), tids->end());
  for (const auto& thread : status_xml_fallback) {
    if (live.contains(thread.tid)) resolution.threads.push_back(thread);
  }
  if (resolution.threads.empty()) {
    resolution.problem = who + ": " + scan.problem +
                         ", and none of the threads in libvirt's status XML (vcpu:tid " +
                         thread_list(status_xml_fallback) + ") is a thread of the QEMU process";
    return resolution;
  }
  sort_by_vcpu(resolution.threads);
  resolution.source = "status-xml";
  return resolution;
}

}  // namespace perfkvm::host
