// Adding and removing perfkvm's device in a libvirt domain definition: the virtio-serial
// channel or the vsock device, exactly as the snippets in xml/ describe them.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace perfkvm::host {

enum class PerfkvmDevice { channel, vsock };

// The device element, e.g. <channel type='unix'><target type='virtio' name='org.perfkvm.0'/>
// </channel> (no source path: libvirt generates one) or <vsock model='virtio'><cid
// auto='yes'/></vsock>.
std::string device_xml(PerfkvmDevice device, std::string_view channel_name);

// The domain XML with the device added under <devices>, or nullopt if it already has one
// (a channel with that target name; any vsock device — a domain has at most one).
// Throws DomainXmlError / XmlError for XML it cannot edit.
std::optional<std::string> add_device(std::string_view domain_xml, PerfkvmDevice device,
                                      std::string_view channel_name);

// The domain XML without the device, or nullopt if it has none.
std::optional<std::string> remove_device(std::string_view domain_xml, PerfkvmDevice device,
                                         std::string_view channel_name);

// The device element as the domain XML has it (libvirt matches a live detach against it),
// or nullopt if it has none.
std::optional<std::string> find_device(std::string_view domain_xml, PerfkvmDevice device,
                                       std::string_view channel_name);

}  // namespace perfkvm::host
