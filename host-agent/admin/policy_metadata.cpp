#include "host-agent/admin/policy_metadata.hpp"

#include <stdexcept>

#include "host-agent/policy/policy_xml.hpp"

namespace perfkvm::host {
namespace {

const std::string kUri(kPolicyNamespaceUri);
const std::string kPrefix(kPolicyNamespacePrefix);

std::runtime_error failure(virDomainPtr domain, const std::string& what) {
  // First: virDomainGetName, like every libvirt call, resets the last error.
  const std::string message = libvirt_error();
  const char* name = virDomainGetName(domain);
  return std::runtime_error("domain '" + std::string(name != nullptr ? name : "?") +
                            "': cannot " + what + " its perfkvm policy: " + message);
}

}  // namespace

std::optional<std::string> read_policy_element(virDomainPtr domain, unsigned flags) {
  LibvirtString element(
      virDomainGetMetadata(domain, VIR_DOMAIN_METADATA_ELEMENT, kUri.c_str(), flags));
  if (element) return std::string(element.get());
  // "No element" is an answer, not a failure: the domain has no policy of its own.
  const virError* error = virGetLastError();
  if (error != nullptr && error->code == VIR_ERR_NO_DOMAIN_METADATA) return std::nullopt;
  throw failure(domain, "read");
}

void write_policy_element(virDomainPtr domain, const std::string& element, unsigned flags) {
  if (virDomainSetMetadata(domain, VIR_DOMAIN_METADATA_ELEMENT, element.c_str(), kPrefix.c_str(),
                           kUri.c_str(), flags) != 0) {
    throw failure(domain, "set");
  }
}

void remove_policy_element(virDomainPtr domain, unsigned flags) {
  // libvirt ignores key (the prefix) when removing; metadata NULL is the removal.
  if (virDomainSetMetadata(domain, VIR_DOMAIN_METADATA_ELEMENT, nullptr, nullptr, kUri.c_str(),
                           flags) != 0) {
    throw failure(domain, "remove");
  }
}

}  // namespace perfkvm::host
