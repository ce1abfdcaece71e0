// policy_xml and policy_xml_with_namespace: the writer half of policy_xml.hpp. It writes only
// what parse_policy_xml reads back to the same DomainPolicy, so it refuses what the reader
// would refuse; every value written is a known name or a number, so nothing needs escaping.
#include "host-agent/policy/policy_xml.hpp"

namespace perfkvm::host {
namespace {

[[noreturn]] void refuse(const std::string& detail) {
  throw PolicyError("cannot write the policy: " + detail);
}

std::string number_attribute(std::string_view name, const std::optional<std::uint32_t>& value,
                             std::uint32_t max) {
  if (!value) return {};
  if (*value < 1 || *value > max) {
    refuse(std::string(name) + " " + std::to_string(*value) + " is not in 1.." +
           std::to_string(max));
  }
  return " " + std::string(name) + "='" + std::to_string(*value) + "'";
}

std::string attributes(const DomainPolicy& policy) {
  std::string out;
  if (policy.guest_requests) {
    out += " guest-requests='" + std::string(protocol::to_string(*policy.guest_requests)) + "'";
  }
  out += number_attribute("min-interval-ms", policy.min_interval_ms, kMaxPolicyIntervalMs);
  out += number_attribute("max-sessions", policy.max_sessions, kMaxPolicyCount);
  out += number_attribute("max-events", policy.max_events, kMaxPolicyCount);
  if (policy.export_counted) {
    out += std::string(" export='") + (*policy.export_counted ? "yes" : "no") + "'";
  }
  return out;
}

std::string events_element(const EventAllowList& list, const std::string& prefix) {
  if (list.classes.empty() && list.events.empty()) refuse("the events list is empty");
  // Rebuilding the list through add_allowed checks names and duplicates as the reader does.
  EventAllowList checked;
  std::string out = "  <" + prefix + "events>\n";
  for (const auto kind : list.classes) {
    if (auto problem = add_allowed(checked, class_name(kind))) refuse(*problem);
    out += "    <" + prefix + "class name='" + std::string(class_name(kind)) + "'/>\n";
  }
  for (const auto& name : list.events) {
    if (auto problem = add_allowed(checked, name)) refuse(*problem);
    // Canonical, so that the policy read back equals this one.
    out += "    <" + prefix + "event name='" + checked.events.back() + "'/>\n";
  }
  if (checked != list) refuse("event aliases must be written as their canonical names");
  return out + "  </" + prefix + "events>\n";
}

std::string modes_element(const std::vector<protocol::StartMode>& modes,
                          const std::string& prefix) {
  if (modes.empty()) refuse("the modes list is empty");
  std::string out = "  <" + prefix + "modes>\n";
  for (std::size_t i = 0; i < modes.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (modes[j] == modes[i]) {
        refuse("mode '" + std::string(protocol::to_string(modes[i])) + "' is listed twice");
      }
    }
    out += "    <" + prefix + "mode name='" + std::string(protocol::to_string(modes[i])) + "'/>\n";
  }
  return out + "  </" + prefix + "modes>\n";
}

std::string element(const DomainPolicy& policy, bool with_namespace) {
  const std::string prefix = with_namespace ? std::string(kPolicyNamespacePrefix) + ":" : "";
  const std::string name = prefix + std::string(kPolicyElement);
  std::string head = "<" + name;
  if (with_namespace) {
    head += " xmlns:" + std::string(kPolicyNamespacePrefix) + "='" +
            std::string(kPolicyNamespaceUri) + "'";
  }
  head += attributes(policy);
  std::string body;
  if (policy.events) body += events_element(*policy.events, prefix);
  if (policy.modes) body += modes_element(*policy.modes, prefix);
  if (body.empty()) return head + "/>\n";
  return head + ">\n" + body + "</" + name + ">\n";
}

}  // namespace

std::string policy_xml(const DomainPolicy& policy) { return element(policy, false); }

std::string policy_xml_with_namespace(const DomainPolicy& policy) {
  return element(policy, true);
}

}  // namespace perfkvm::host
