#include "host-agent/hostd/privileges.hpp"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>

namespace perfkvm::host {

namespace {

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif

bool has_effective_capability(int capability) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  return (data[capability / 32].effective >> (capability % 32)) & 1u;
}

std::string paranoid_level() {
  std::ifstream in("/proc/sys/kernel/perf_event_paranoid");
  std::string level;
  in >> level;
  return level.empty() ? "unknown" : level;
}

}  // namespace

std::vector<std::string> perf_privilege_problems() {
  // Capabilities only: root without them (a unit's CapabilityBoundingSet, a container) cannot
  // count QEMU's threads, which belong to another user.
  if (has_effective_capability(CAP_PERFMON) || has_effective_capability(CAP_SYS_ADMIN)) return {};
  return {"perfkvm-hostd has neither CAP_PERFMON nor CAP_SYS_ADMIN in its effective "
          "capabilities: it cannot count QEMU's vCPU threads (kernel.perf_event_paranoid = " +
          paranoid_level() +
          "). Run it as root with its capabilities, or grant it: setcap cap_perfmon+ep "
          "perfkvm-hostd (the systemd unit does: AmbientCapabilities=CAP_PERFMON)"};
}

}  // namespace perfkvm::host
