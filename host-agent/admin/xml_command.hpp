// `perfkvm-host xml enable|disable|show DOMAIN`: give a domain its perfkvm device (the
// virtio-serial channel, or vsock) through libvirt's API, take it away, or show what perfkvm
// would use. Idempotent: enabling twice changes nothing and says so.
#pragma once

#include <filesystem>
#include <ostream>
#include <string>

#include "host-agent/admin/domain_xml_edit.hpp"
#include "host-agent/libvirt/handles.hpp"
#include "protocol/defaults.hpp"

namespace perfkvm::host {

struct XmlCommand {
  enum class Action { enable, disable, show };
  Action action = Action::show;
  std::string domain;  // name or uuid
  PerfkvmDevice device = PerfkvmDevice::channel;
  bool live = false;    // hot-(un)plug into the running domain
  bool config = false;  // edit the persistent definition (next start)
  std::string channel_name{protocol::kChannelName};
  // vsock needs the host's vhost-vsock device; a parameter so tests can point elsewhere.
  std::filesystem::path vhost_vsock = "/dev/vhost-vsock";
};

// Prints what it did (or why nothing) to `out`; throws std::runtime_error with a message
// that names the fix when it cannot.
void run_xml_command(virConnectPtr connection, const XmlCommand& command, std::ostream& out);

}  // namespace perfkvm::host
