// `perfkvm-host list`: every libvirt domain with what perfkvm would use to serve it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "host-agent/domains/domain_xml.hpp"
#include "host-agent/libvirt/handles.hpp"
#include "host-agent/threads/host_paths.hpp"
#include "host-agent/threads/vcpu_threads.hpp"

namespace perfkvm::host {

struct DomainListing {
  DomainXmlInfo info;
  std::string state;                        // as virsh says it: "running", "shut off"...
  std::optional<VcpuResolution> threads;    // running domains only
  std::string problem;                      // the XML could not be read or used
};

// Throws std::runtime_error with libvirt's message if the domains cannot be listed.
std::vector<DomainListing> list_domains(virConnectPtr connection, const std::string& channel_name,
                                        const HostPaths& paths);

std::string format_listing_table(const std::vector<DomainListing>& domains);
std::string format_listing_json(const std::vector<DomainListing>& domains);

// virsh's words for virDomainState values.
std::string domain_state_name(int state);

}  // namespace perfkvm::host
