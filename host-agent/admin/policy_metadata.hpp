// perfkvm's policy element in a domain's libvirt <metadata>: read, replace, remove. Strings
// only: what the element means is the policy module's (host-agent/policy/policy_xml.hpp),
// which also says how libvirt wants the element (no prefix, no xmlns: libvirt adds both).
//
// `flags` are virDomainModificationImpact's: VIR_DOMAIN_AFFECT_CURRENT (0), _LIVE or _CONFIG.
// libvirt reads one definition at a time (LIVE and CONFIG together are refused by
// virDomainGetMetadata), but writes either or both.
#pragma once

#include <optional>
#include <string>

#include "host-agent/libvirt/handles.hpp"

namespace perfkvm::host {

// The element as libvirt returns it, or nullopt if the domain has none in that definition.
// Throws std::runtime_error: "domain 'web': cannot read its perfkvm policy: <libvirt's>".
std::optional<std::string> read_policy_element(virDomainPtr domain, unsigned flags);

// Replaces the element (or adds it). Throws std::runtime_error:
// "domain 'web': cannot set its perfkvm policy: <libvirt's message>".
void write_policy_element(virDomainPtr domain, const std::string& element, unsigned flags);

// Removes the element; no element is no error (libvirt's own rule). Throws
// std::runtime_error: "domain 'web': cannot remove its perfkvm policy: <libvirt's message>".
void remove_policy_element(virDomainPtr domain, unsigned flags);

}  // namespace perfkvm::host
