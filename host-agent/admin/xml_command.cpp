#include "host-agent/admin/xml_command.hpp"

#include <stdexcept>

#include "host-agent/domains/domain_xml.hpp"

namespace perfkvm::host {

namespace {

struct Target {
  DomainPtr domain;
  std::string name;
  bool persistent = false;
  bool active = false;
};

Target find(virConnectPtr connection, const std::string& name_or_uuid) {
  Target target;
  target.domain.reset(virDomainLookupByName(connection, name_or_uuid.c_str()));
  if (!target.domain) target.domain.reset(virDomainLookupByUUIDString(connection, name_or_uuid.c_str()));
  if (!target.domain) {
    throw std::runtime_error("domain '" + name_or_uuid +
                             "' not found (perfkvm-host list shows the domains)");
  }
  target.name = virDomainGetName(target.domain.get());
  target.persistent = virDomainIsPersistent(target.domain.get()) == 1;
  target.active = virDomainIsActive(target.domain.get()) == 1;
  return target;
}

std::string xml_of(const Target& target, unsigned flags) {
  LibvirtString xml(virDomainGetXMLDesc(target.domain.get(), flags));
  if (!xml) {
    throw std::runtime_error("cannot read the XML of domain '" + target.name + "': " +
                             libvirt_error());
  }
  return xml.get();
}

std::string noun(const XmlCommand& command) {
  return command.device == PerfkvmDevice::channel
             ? "perfkvm channel (" + command.channel_name + ")"
             : "vsock device";
}

std::string what(const XmlCommand& command) {
  return (command.device == PerfkvmDevice::channel ? "the " : "a ") + noun(command);
}

std::string option_of(PerfkvmDevice device) {
  return device == PerfkvmDevice::channel ? "--channel" : "--vsock";
}

// Said before libvirt is asked: it would define the domain, and QEMU would fail at start.
void require_vsock_support(const XmlCommand& command) {
  if (command.device == PerfkvmDevice::vsock && !std::filesystem::exists(command.vhost_vsock)) {
    throw std::runtime_error(
        "this host has no " + command.vhost_vsock.string() +
        " (kernel module vhost_vsock): QEMU could not start a domain with a vsock device; "
        "use the virtio-serial channel (" + option_of(PerfkvmDevice::channel) + ") instead");
  }
}

// Without --live or --config: the persistent definition of a persistent domain, the running
// domain itself for a transient one (it has nothing else).
void resolve_scope(const XmlCommand& command, const Target& target, bool& live, bool& config) {
  live = command.live;
  config = command.config;
  if (!live && !config) {
    config = target.persistent;
    live = !target.persistent;
  }
  if (config && !target.persistent) {
    throw std::runtime_error("domain '" + target.name +
                             "' is transient: it has no persistent definition to edit; use --live");
  }
  if (live && !target.active) {
    throw std::runtime_error("domain '" + target.name +
                             "' is not running: --live changes a running domain; use --config");
  }
}

void enable_config(virConnectPtr connection, const XmlCommand& command, const Target& target,
                   std::ostream& out) {
  const auto edited = add_device(xml_of(target, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE),
                                 command.device, command.channel_name);
  if (!edited) {
    out << "domain '" << target.name << "' already has " << what(command)
        << " in its persistent definition: nothing changed\n";
    return;
  }
  require_vsock_support(command);
  DomainPtr defined(virDomainDefineXML(connection, edited->c_str()));
  if (!defined) {
    throw std::runtime_error("libvirt refused the definition of '" + target.name +
                             "' with " + what(command) + ": " + libvirt_error());
  }
  out << "added " << what(command) << " to the persistent definition of '" << target.name
      << "'" << (target.active ? " (takes effect at its next start; --live adds it now)" : "")
      << "\n";
}

void enable_live(const XmlCommand& command, const Target& target, std::ostream& out) {
  if (find_device(xml_of(target, 0), command.device, command.channel_name)) {
    out << "running domain '" << target.name << "' already has " << what(command)
        << ": nothing changed\n";
    return;
  }
  require_vsock_support(command);
  const auto device = device_xml(command.device, command.channel_name);
  if (virDomainAttachDeviceFlags(target.domain.get(), device.c_str(), VIR_DOMAIN_AFFECT_LIVE) != 0) {
    throw std::runtime_error("libvirt could not hot-plug " + what(command) + " into '" +
                             target.name + "': " + libvirt_error());
  }
  out << "hot-plugged " << what(command) << " into running domain '" << target.name << "'\n";
}

void disable_config(virConnectPtr connection, const XmlCommand& command, const Target& target,
                    std::ostream& out) {
  const auto edited =
      remove_device(xml_of(target, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE),
                    command.device, command.channel_name);
  if (!edited) {
    out << "domain '" << target.name << "' has no " << noun(command)
        << " in its persistent definition: nothing changed\n";
    return;
  }
  DomainPtr defined(virDomainDefineXML(connection, edited->c_str()));
  if (!defined) {
    throw std::runtime_error("libvirt refused the definition of '" + target.name +
                             "' without " + what(command) + ": " + libvirt_error());
  }
  out << "removed " << what(command) << " from the persistent definition of '" << target.name
      << "'\n";
}

void disable_live(const XmlCommand& command, const Target& target, std::ostream& out) {
  const auto device = find_device(xml_of(target, 0), command.device, command.channel_name);
  if (!device) {
    out << "running domain '" << target.name << "' has no " << noun(command)
        << ": nothing changed\n";
    return;
  }
  if (virDomainDetachDeviceFlags(target.domain.get(), device->c_str(), VIR_DOMAIN_AFFECT_LIVE) != 0) {
    throw std::runtime_error("libvirt could not unplug " + what(command) + " from '" +
                             target.name + "': " + libvirt_error());
  }
  out << "unplugged " << what(command) << " from running domain '" << target.name << "'\n";
}

void show(const XmlCommand& command, const Target& target, std::ostream& out) {
  const auto info = parse_domain_xml(xml_of(target, 0), command.channel_name);
  out << "domain: " << info.name << " (" << (target.active ? "running" : "not running") << ")\n";
  bool usable = false;
  if (info.channel_path) {
    out << "transport: virtio-serial\nsocket: " << *info.channel_path << "\n";
    usable = true;
  } else if (!info.channel_problem.empty()) {
    out << "virtio-serial channel: unusable: " << info.channel_problem << "\n";
  }
  if (info.vsock_cid) {
    out << "transport: vsock\nCID: " << *info.vsock_cid << "\n";
    usable = true;
  } else if (info.vsock) {
    out << "vsock: present, CID assigned when the domain starts\n";
    usable = true;
  }
  if (!usable && info.channel_problem.empty()) {
    out << "perfkvm: not enabled (no channel " << command.channel_name << ", no vsock)\n"
        << "enable it with:\n  perfkvm-host xml enable " << info.name << " --channel"
        << (target.persistent ? " --config" : "") << (target.active ? " --live" : "") << "\n";
  }
}

}  // namespace

void run_xml_command(virConnectPtr connection, const XmlCommand& command, std::ostream& out) {
  const Target target = find(connection, command.domain);
  if (command.action == XmlCommand::Action::show) return show(command, target, out);

  bool live = false;
  bool config = false;
  resolve_scope(command, target, live, config);
  if (command.action == XmlCommand::Action::enable) {
    if (config) enable_config(connection, command, target, out);
    if (live) enable_live(command, target, out);
  } else {
    if (config) disable_config(connection, command, target, out);
    if (live) disable_live(command, target, out);
  }
}

}  // namespace perfkvm::host
