#include "host-agent/admin/domain_xml_edit.hpp"

#include <libxml/tree.h>

#include <algorithm>
#include <cctype>

#include "host-agent/domains/domain_xml.hpp"
#include "host-agent/domains/xml_document.hpp"

namespace perfkvm::host {

namespace {

// The channel name is an admin's command-line argument, but it still goes into an XPath
// expression and XML: allow only what a virtio-serial port name needs.
std::string checked_name(std::string_view name) {
  const bool ok = !name.empty() && name.size() <= 128 &&
                  std::all_of(name.begin(), name.end(), [](char c) {
                    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ||
                           c == '_';
                  });
  if (!ok) {
    throw DomainXmlError("invalid channel name '" + std::string(name) +
                         "': use letters, digits, '.', '-' and '_'");
  }
  return std::string(name);
}

std::string device_xpath(PerfkvmDevice device, std::string_view channel_name) {
  if (device == PerfkvmDevice::vsock) return "/domain/devices/vsock";
  return "/domain/devices/channel[target/@type='virtio' and target/@name='" +
         checked_name(channel_name) + "']";
}

std::string node_xml(xmlDoc& doc, xmlNode& node) {
  xmlBuffer* buffer = xmlBufferCreate();
  xmlNodeDump(buffer, &doc, &node, 0, 0);
  std::string text(reinterpret_cast<const char*>(xmlBufferContent(buffer)),
                   static_cast<std::size_t>(xmlBufferLength(buffer)));
  xmlBufferFree(buffer);
  return text;
}

}  // namespace

std::string device_xml(PerfkvmDevice device, std::string_view channel_name) {
  if (device == PerfkvmDevice::vsock) {
    return "<vsock model='virtio'>\n  <cid auto='yes'/>\n</vsock>\n";
  }
  return "<channel type='unix'>\n  <target type='virtio' name='" + checked_name(channel_name) +
         "'/>\n</channel>\n";
}

std::optional<std::string> find_device(std::string_view domain_xml, PerfkvmDevice device,
                                       std::string_view channel_name) {
  auto document = XmlDocument::parse(domain_xml);
  auto* found = document.select_first(document.root(), device_xpath(device, channel_name).c_str());
  if (!found) return std::nullopt;
  return node_xml(document.doc(), *found);
}

std::optional<std::string> add_device(std::string_view domain_xml, PerfkvmDevice device,
                                      std::string_view channel_name) {
  auto document = XmlDocument::parse(domain_xml);
  if (name_of(document.root()) != "domain") throw DomainXmlError("not a <domain> definition");
  if (document.select_first(document.root(), device_xpath(device, channel_name).c_str())) {
    return std::nullopt;
  }
  auto* devices = document.select_first(document.root(), "/domain/devices");
  if (!devices) {
    devices = xmlNewChild(&document.root(), nullptr, BAD_CAST "devices", nullptr);
  }
  auto snippet = XmlDocument::parse(device_xml(device, channel_name));
  xmlNode* copy = xmlDocCopyNode(&snippet.root(), &document.doc(), 1);
  if (!copy || !xmlAddChild(devices, copy)) {
    if (copy) xmlFreeNode(copy);
    throw DomainXmlError("could not add the device to the domain XML");
  }
  return document.serialize();
}

std::optional<std::string> remove_device(std::string_view domain_xml, PerfkvmDevice device,
                                         std::string_view channel_name) {
  auto document = XmlDocument::parse(domain_xml);
  const auto found = document.select(document.root(), device_xpath(device, channel_name).c_str());
  if (found.empty()) return std::nullopt;
  for (auto* node : found) {
    xmlUnlinkNode(node);
    xmlFreeNode(node);
  }
  return document.serialize();
}

}  // namespace perfkvm::host
