// What perfkvm-hostd needs from libvirt's XML about a domain: its identity, vCPU count,
// the perfkvm virtio-serial channel socket and the vsock CID - read from the domain XML
// (virDomainGetXMLDesc, live or inactive) or from QEMU's status XML
// (/run/libvirt/qemu/<name>.xml), which adds the QEMU pid and the vCPU thread ids.
//
// The XML is untrusted (see xml_document.hpp). Anything libvirt itself would never write -
// malformed XML, a missing <name>/<uuid>, numbers out of range - throws DomainXmlError.
// A perfkvm channel that exists but cannot be used is not an error: channel_problem says why,
// so an admin sees what to fix while the rest of the domain stays usable (e.g. over vsock).
//
// Channel rules, for the channel whose <target type='virtio' name=channel_name>:
// - it must be <channel type='unix'> with <source mode='bind' path='ABSOLUTE'/>: QEMU listens,
//   perfkvm-hostd connects; the path must fit a unix socket address.
// - no path: libvirt generates one when the domain starts, so only inactive XML lacks it.
// - several channels with that name: refused (channel_problem), because the guest's
//   /dev/virtio-ports/<name> leads to only one of them and QEMU refuses duplicate port names.
// Exactly one of channel_path and channel_problem is set when the channel exists.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/defaults.hpp"

namespace perfkvm::host {

inline constexpr std::string_view kDefaultChannelName = protocol::kChannelName;

class DomainXmlError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct DomainXmlInfo {
  std::string name;
  std::string uuid;
  std::optional<int> id;        // <domain id='N'>: running domains only
  std::uint32_t vcpus = 0;      // current: <vcpu current='N'>M</vcpu> -> N, else M
  std::uint32_t max_vcpus = 0;  // M; vCPU ids run from 0 to M-1
  std::optional<std::string> channel_path;
  std::string channel_problem;
  bool vsock = false;       // a <vsock> device (libvirt's only model is virtio-vsock)
  bool vsock_auto = false;  // <cid auto='yes'>
  std::optional<std::uint32_t> vsock_cid;  // <cid address='N'>; auto CIDs only in live XML

  bool operator==(const DomainXmlInfo&) const = default;
};

struct DomainStatus {
  std::optional<pid_t> qemu_pid;
  std::vector<std::pair<std::uint32_t, pid_t>> vcpu_threads;  // (vCPU id, thread id) by id
  DomainXmlInfo domain;  // the live domain XML inside <domstatus>

  bool operator==(const DomainStatus&) const = default;
};

DomainXmlInfo parse_domain_xml(std::string_view xml,
                               std::string_view channel_name = kDefaultChannelName);
DomainStatus parse_status_xml(std::string_view xml,
                              std::string_view channel_name = kDefaultChannelName);

// Stable "key: value" lines, one per field ("none" for what is absent), for tests and logs.
std::string describe(const DomainXmlInfo& info);
std::string describe(const DomainStatus& status);

}  // namespace perfkvm::host
