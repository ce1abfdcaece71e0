// The XML form of a DomainPolicy: one element in perfkvm's own namespace inside the domain's
// libvirt <metadata>:
//
//   <metadata>
//     <perfkvm:policy xmlns:perfkvm='https://perfkvm.org/xmlns/policy/1'
//                     guest-requests='allow' min-interval-ms='100' max-sessions='2'
//                     max-events='8' export='yes'>
//       <perfkvm:events>
//         <perfkvm:class name='software'/>
//         <perfkvm:event name='instructions'/>
//       </perfkvm:events>
//       <perfkvm:modes>
//         <perfkvm:mode name='guest'/>
//       </perfkvm:modes>
//     </perfkvm:policy>
//   </metadata>
//
// Scalars are attributes of <policy>, lists are child elements; every attribute and child is
// optional (absent: the host's default). Attributes take no prefix, as in all libvirt XML.
// The example with every rule explained is xml/perfkvm-policy.xml.
//
// libvirt strips and adds the namespace itself: virDomainGetMetadata(VIR_DOMAIN_METADATA_ELEMENT,
// kPolicyNamespaceUri) returns the element with no prefix and no xmlns declaration, and
// virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, policy_xml(p), kPolicyNamespacePrefix,
// kPolicyNamespaceUri, flags) wants it the same way and puts it in the namespace (replacing any
// element already there; metadata NULL removes it). parse_policy_xml also reads the qualified
// form (from a file, or a domain's XML), so both spellings mean the same.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "host-agent/policy/domain_policy.hpp"

namespace perfkvm::host {

inline constexpr std::string_view kPolicyNamespaceUri = "https://perfkvm.org/xmlns/policy/1";
inline constexpr std::string_view kPolicyNamespacePrefix = "perfkvm";
inline constexpr std::string_view kPolicyElement = "policy";

// A policy is a few hundred bytes; anyone with libvirt write access can set the metadata.
inline constexpr std::size_t kMaxPolicyXmlBytes = 64 * 1024;

// The message says what and where: "policy XML: line 3: <mode name> 'fast' is not ...".
class PolicyXmlError : public PolicyError {
 public:
  using PolicyError::PolicyError;
};

// Reads the element, unqualified (as virDomainGetMetadata returns it) or in perfkvm's
// namespace. Untrusted input: no DOCTYPE, bounded size, unknown attributes and elements are
// errors (a misspelt rule must not silently fall back to the default), as are duplicates.
DomainPolicy parse_policy_xml(std::string_view xml);

// The policy element in a whole domain XML (virDomainGetXMLDesc: <metadata> holds it in
// perfkvm's namespace), nullopt if it has none. Throws PolicyXmlError as parse_policy_xml.
std::optional<DomainPolicy> parse_domain_policy(std::string_view domain_xml);

// The element without namespace, for virDomainSetMetadata (see above). Throws PolicyError if
// the policy could not be read back: an unknown event, an empty list, a number out of bounds.
std::string policy_xml(const DomainPolicy& policy);

// The same element in perfkvm's namespace, with the xmlns declaration: for a domain's XML
// or a file.
std::string policy_xml_with_namespace(const DomainPolicy& policy);

}  // namespace perfkvm::host
