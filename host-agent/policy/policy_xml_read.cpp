// parse_policy_xml: the reader half of policy_xml.hpp.
#include <libxml/tree.h>

#include <algorithm>
#include <charconv>
#include <initializer_list>

#include "host-agent/domains/xml_document.hpp"
#include "host-agent/policy/policy_xml.hpp"
#include "util/printable.hpp"

namespace perfkvm::host {
namespace {

constexpr std::string_view kSubject = "policy XML";
constexpr std::size_t kMaxShown = 64;

[[noreturn]] void fail(const xmlNode& where, const std::string& detail) {
  throw PolicyXmlError(std::string(kSubject) + ": line " + std::to_string(line_of(where)) + ": " +
                       detail);
}

std::string quoted(std::string_view text) { return "'" + printable(text, kMaxShown) + "'"; }

std::string_view as_view(const xmlChar* text) {
  return text != nullptr ? reinterpret_cast<const char*>(text) : "";
}

// Ours: no namespace (virDomainGetMetadata strips it) or perfkvm's.
bool in_our_namespace(const xmlNode& element) {
  return element.ns == nullptr || as_view(element.ns->href) == kPolicyNamespaceUri;
}

std::string element_label(const xmlNode& element) {
  std::string label = "<" + printable(name_of(element), kMaxShown) + ">";
  if (element.ns != nullptr && !in_our_namespace(element)) {
    label += " in namespace " + quoted(as_view(element.ns->href));
  }
  return label;
}

// Unknown attributes are errors: "max-event='8'" must not mean "the default".
void allow_only(const xmlNode& element, std::initializer_list<std::string_view> known) {
  for (const xmlAttr* attr = element.properties; attr != nullptr; attr = attr->next) {
    const std::string_view name = as_view(attr->name);
    bool is_known = attr->ns == nullptr;
    if (is_known) {
      is_known = false;
      for (const auto candidate : known) is_known = is_known || candidate == name;
    }
    if (!is_known) {
      const std::string prefix =
          attr->ns != nullptr && attr->ns->prefix != nullptr
              ? printable(as_view(attr->ns->prefix), kMaxShown) + ":"
              : "";
      std::string expected;
      for (const auto candidate : known) {
        expected += (expected.empty() ? "" : ", ") + std::string(candidate);
      }
      fail(element, element_label(element) + " has an unknown attribute '" + prefix +
                        printable(name, kMaxShown) + "'" +
                        (expected.empty() ? ", it takes none" : " (known: " + expected + ")") +
                        (attr->ns != nullptr ? "; perfkvm's attributes take no prefix" : ""));
    }
  }
}

// Element children in document order; text other than white space is an error.
std::vector<xmlNode*> element_children(const xmlNode& parent) {
  std::vector<xmlNode*> children;
  for (xmlNode* child = parent.children; child != nullptr; child = child->next) {
    if (child->type == XML_ELEMENT_NODE) {
      if (!in_our_namespace(*child)) {
        fail(*child, element_label(parent) + " contains " + element_label(*child) +
                         "; only perfkvm's own elements belong here");
      }
      children.push_back(child);
    } else if (child->type == XML_TEXT_NODE || child->type == XML_CDATA_SECTION_NODE) {
      const std::string text = text_of(*child);
      const auto first = text.find_first_not_of(" \t\r\n");
      if (first != std::string::npos) {
        // At the parent's line: libxml2 gives a text node the line where it ends.
        const auto last = text.find_last_not_of(" \t\r\n");
        fail(parent, element_label(parent) + " contains the text " +
                         quoted(std::string_view(text).substr(first, last - first + 1)) +
                         "; values are attributes");
      }
    }
  }
  return children;
}

std::uint32_t whole_number(const xmlNode& where, std::string_view attr_name,
                           const std::string& text, std::uint32_t min, std::uint32_t max) {
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc{} || end != text.data() + text.size() || value < min ||
      value > max) {
    fail(where, "<policy " + std::string(attr_name) + "> " + quoted(text) +
                    " is not a whole number in " + std::to_string(min) + ".." +
                    std::to_string(max));
  }
  return static_cast<std::uint32_t>(value);
}

template <protocol::WireEnum E>
E enum_value(const xmlNode& where, const std::string& label, const std::string& text) {
  const auto value = protocol::enum_from_string<E>(text);
  if (!value) fail(where, label + " " + quoted(text) + " is not " + protocol::enum_choices<E>());
  return *value;
}

bool yes_no(const xmlNode& where, const std::string& label, const std::string& text) {
  if (text != "yes" && text != "no") {
    fail(where, label + " " + quoted(text) + " is neither 'yes' nor 'no'");
  }
  return text == "yes";
}

std::string required_name(const xmlNode& entry) {
  allow_only(entry, {"name"});
  auto name = attribute(entry, "name");
  if (!name) fail(entry, element_label(entry) + " has no name attribute");
  return *name;
}

void expect_entries(const xmlNode& list, const std::vector<xmlNode*>& entries) {
  if (entries.empty()) {
    fail(list, element_label(list) +
                   " is empty: list at least one, or leave it out for the host's default; "
                   "guest-requests='deny' refuses every start");
  }
}

EventAllowList read_events(const xmlNode& events) {
  allow_only(events, {});
  const auto entries = element_children(events);
  expect_entries(events, entries);
  EventAllowList list;
  for (const xmlNode* entry : entries) {
    const std::string_view kind = name_of(*entry);
    if (kind != "event" && kind != "class") {
      fail(*entry, "<events> contains " + element_label(*entry) + "; it holds <event> and <class>");
    }
    const std::string name = required_name(*entry);
    // <class name='cpu-cycles'> or <event name='software'> are mix-ups worth naming.
    const bool names_class = class_from_name(name).has_value();
    if (names_class != (kind == "class")) {
      fail(*entry, "<" + std::string(kind) + " name=" + quoted(name) + "> " +
                       (names_class ? "names a class: write <class name=" + quoted(name) + "/>"
                                    : "is not a class: the classes are software and hardware"));
    }
    if (auto problem = add_allowed(list, name)) fail(*entry, "<events>: " + *problem);
  }
  return list;
}

std::vector<protocol::StartMode> read_modes(const xmlNode& modes) {
  allow_only(modes, {});
  const auto entries = element_children(modes);
  expect_entries(modes, entries);
  std::vector<protocol::StartMode> list;
  for (const xmlNode* entry : entries) {
    if (name_of(*entry) != "mode") {
      fail(*entry, "<modes> contains " + element_label(*entry) + "; it holds <mode>");
    }
    const std::string name = required_name(*entry);
    const auto mode = enum_value<protocol::StartMode>(*entry, "<mode name>", name);
    if (std::find(list.begin(), list.end(), mode) != list.end()) {
      fail(*entry, "<modes>: mode " + quoted(name) + " is listed twice");
    }
    list.push_back(mode);
  }
  return list;
}

void read_attributes(const xmlNode& root, DomainPolicy& policy) {
  allow_only(root, {"guest-requests", "min-interval-ms", "max-sessions", "max-events", "export"});
  if (const auto text = attribute(root, "guest-requests")) {
    policy.guest_requests = enum_value<GuestRequests>(root, "<policy guest-requests>", *text);
  }
  if (const auto text = attribute(root, "min-interval-ms")) {
    policy.min_interval_ms = whole_number(root, "min-interval-ms", *text, 1, kMaxPolicyIntervalMs);
  }
  if (const auto text = attribute(root, "max-sessions")) {
    policy.max_sessions = whole_number(root, "max-sessions", *text, 1, kMaxPolicyCount);
  }
  if (const auto text = attribute(root, "max-events")) {
    policy.max_events = whole_number(root, "max-events", *text, 1, kMaxPolicyCount);
  }
  if (const auto text = attribute(root, "export")) {
    policy.export_counted = yes_no(root, "<policy export>", *text);
  }
}

void read_children(const xmlNode& root, DomainPolicy& policy) {
  const xmlNode* events = nullptr;
  const xmlNode* modes = nullptr;
  for (const xmlNode* child : element_children(root)) {
    const std::string_view name = name_of(*child);
    const xmlNode** seen = name == "events" ? &events : name == "modes" ? &modes : nullptr;
    if (seen == nullptr) {
      fail(*child,
           "<policy> contains " + element_label(*child) + "; it holds <events> and <modes>");
    }
    if (*seen != nullptr) {
      fail(*child, element_label(*child) + " appears twice (first at line " +
                       std::to_string(line_of(**seen)) + ")");
    }
    *seen = child;
  }
  if (events != nullptr) policy.events = read_events(*events);
  if (modes != nullptr) policy.modes = read_modes(*modes);
}

DomainPolicy read_policy(const xmlNode& element) {
  DomainPolicy policy;
  read_attributes(element, policy);
  read_children(element, policy);
  return policy;
}

}  // namespace

DomainPolicy parse_policy_xml(std::string_view xml) {
  if (xml.size() > kMaxPolicyXmlBytes) {
    throw PolicyXmlError(std::string(kSubject) + " is " + std::to_string(xml.size()) +
                         " bytes, more than the " + std::to_string(kMaxPolicyXmlBytes) +
                         " accepted");
  }
  std::optional<XmlDocument> doc;
  try {
    doc.emplace(XmlDocument::parse(xml));
  } catch (const XmlError& error) {
    throw PolicyXmlError(std::string(kSubject) + " " + error.what());
  }
  const xmlNode& root = doc->root();
  if (name_of(root) != kPolicyElement || !in_our_namespace(root)) {
    fail(root, "the root element is " + element_label(root) + ", expected <" +
                   std::string(kPolicyElement) + "> in namespace " +
                   std::string(kPolicyNamespaceUri) + " or in none");
  }
  return read_policy(root);
}

std::optional<DomainPolicy> parse_domain_policy(std::string_view domain_xml) {
  std::optional<XmlDocument> doc;
  try {
    doc.emplace(XmlDocument::parse(domain_xml));
  } catch (const XmlError& error) {
    throw PolicyXmlError("domain XML " + std::string(error.what()));
  }
  for (const xmlNode* metadata = doc->root().children; metadata; metadata = metadata->next) {
    if (metadata->type != XML_ELEMENT_NODE || metadata->ns != nullptr ||
        name_of(*metadata) != "metadata") {
      continue;
    }
    for (const xmlNode* child = metadata->children; child; child = child->next) {
      // Qualified only: in a domain's XML every metadata element has its namespace.
      if (child->type == XML_ELEMENT_NODE && child->ns != nullptr &&
          as_view(child->ns->href) == kPolicyNamespaceUri && name_of(*child) == kPolicyElement) {
        return read_policy(*child);
      }
    }
  }
  return std::nullopt;
}

}  // namespace perfkvm::host
