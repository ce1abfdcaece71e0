#include "host-agent/domains/domain_threads.hpp"

#include <fstream>
#include <sstream>
#include <vector>

#include "host-agent/domains/domain_xml.hpp"
#include "util/log.hpp"

namespace perfkvm::host {

namespace {

// The status XML is root-only and absent for other drivers: reading it is best effort.
std::vector<VcpuThread> status_xml_threads(const HostPaths& paths, const std::string& name) {
  std::ifstream in(paths.libvirt_qemu_run_dir / (name + ".xml"));
  if (!in) return {};
  std::ostringstream text;
  text << in.rdbuf();
  try {
    const auto status = parse_status_xml(text.str());
    std::vector<VcpuThread> threads;
    for (const auto& [vcpu, tid] : status.vcpu_threads) threads.push_back({vcpu, tid});
    return threads;
  } catch (const std::exception& bad) {
    log::warning("domain '" + name + "': unreadable libvirt status XML: " + bad.what());
    return {};
  }
}

}  // namespace

VcpuResolution resolve_domain_threads(const HostPaths& paths, const std::string& name,
                                      const std::string& uuid) {
  return resolve_vcpu_threads(paths, name, uuid, status_xml_threads(paths, name));
}

}  // namespace perfkvm::host
