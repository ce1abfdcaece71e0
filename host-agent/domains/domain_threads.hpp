// A domain's vCPU threads, found the two ways there are: QEMU's thread names in /proc first
// (threads/vcpu_threads.hpp), libvirt's status XML as the fallback (root-only, QEMU driver).
#pragma once

#include <string>

#include "host-agent/threads/host_paths.hpp"
#include "host-agent/threads/vcpu_threads.hpp"

namespace perfkvm::host {

VcpuResolution resolve_domain_threads(const HostPaths& paths, const std::string& name,
                                      const std::string& uuid);

}  // namespace perfkvm::host
