#include "host-agent/domains/domain_xml.hpp"

#include <sys/un.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <sstream>
#include <utility>

#include "host-agent/domains/xml_document.hpp"
#include "util/uuid.hpp"

namespace perfkvm::host {
namespace {

// Far above any QEMU machine type (q35 stops at 4096): only keeps untrusted numbers sane.
constexpr std::uint64_t kMaxVcpus = 16384;
// CIDs 0-2 are the hypervisor, loopback and host; 0xFFFFFFFF is VMADDR_CID_ANY.
constexpr std::uint64_t kMinGuestCid = 3;
constexpr std::uint64_t kMaxGuestCid = 0xFFFFFFFE;
constexpr std::uint64_t kMaxPid = std::numeric_limits<pid_t>::max();
constexpr std::uint64_t kMaxDomainId = std::numeric_limits<int>::max();
// sun_path holds the path and its terminating NUL.
constexpr std::size_t kMaxSocketPath = sizeof(sockaddr_un{}.sun_path) - 1;

bool is_control(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }

// Untrusted text quoted in a message: bounded (cut on a UTF-8 boundary), and with control
// characters replaced so it cannot forge log lines.
std::string shown(std::string_view text) {
  constexpr std::size_t kMaxShown = 80;
  std::size_t cut = std::min(text.size(), kMaxShown);
  while (cut > 0 && cut < text.size() && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) {
    --cut;
  }
  std::string out(text.substr(0, cut));
  std::replace_if(out.begin(), out.end(), is_control, '?');
  if (cut < text.size()) out += "...";
  return out;
}

std::string_view trimmed(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n";
  const auto first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(kSpace) - first + 1);
}

[[noreturn]] void fail(const std::string& subject, const xmlNode& where,
                       const std::string& detail) {
  throw DomainXmlError(subject + ": line " + std::to_string(line_of(where)) + ": " + detail);
}

std::uint64_t whole_number(const std::string& subject, const xmlNode& where,
                           const std::string& what, const std::string& text, std::uint64_t min,
                           std::uint64_t max) {
  const std::string_view digits = trimmed(text);
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || error != std::errc{} || end != digits.data() + digits.size() ||
      value < min || value > max) {
    fail(subject, where,
         what + " '" + shown(text) + "' is not a whole number in " + std::to_string(min) + ".." +
             std::to_string(max));
  }
  return value;
}

std::string read_name(XmlDocument& doc, xmlNode& domain) {
  const std::string subject = "domain XML";
  xmlNode* node = doc.select_first(domain, "./name");
  if (node == nullptr) fail(subject, domain, "<domain> has no <name>");
  std::string name = text_of(*node);
  if (name.empty()) fail(subject, *node, "<name> is empty");
  // The name becomes part of file paths (/run/libvirt/qemu/<name>.xml) and of messages.
  if (name.find('/') != std::string::npos || std::any_of(name.begin(), name.end(), is_control)) {
    fail(subject, *node, "<name> '" + shown(name) + "' contains '/' or a control character");
  }
  return name;
}

std::string read_uuid(XmlDocument& doc, xmlNode& domain, const std::string& subject) {
  xmlNode* node = doc.select_first(domain, "./uuid");
  if (node == nullptr) fail(subject, domain, "<domain> has no <uuid>");
  std::string uuid(trimmed(text_of(*node)));
  if (!is_canonical_uuid(uuid)) fail(subject, *node, "<uuid> '" + shown(uuid) + "' is not a UUID");
  return uuid;
}

void read_vcpus(XmlDocument& doc, xmlNode& domain, const std::string& subject,
                DomainXmlInfo& info) {
  xmlNode* node = doc.select_first(domain, "./vcpu");
  if (node == nullptr) {  // libvirt's default, which it always writes out
    info.vcpus = info.max_vcpus = 1;
    return;
  }
  info.max_vcpus = static_cast<std::uint32_t>(
      whole_number(subject, *node, "<vcpu>", text_of(*node), 1, kMaxVcpus));
  info.vcpus = info.max_vcpus;
  if (const auto current = attribute(*node, "current")) {
    info.vcpus = static_cast<std::uint32_t>(
        whole_number(subject, *node, "<vcpu current>", *current, 1, info.max_vcpus));
  }
}

std::string at_line(const xmlNode& node) { return " (line " + std::to_string(line_of(node)) + ")"; }

std::string no_path(bool running) {
  return running ? " has no socket path although the domain is running"
                 : " has no socket path yet, which libvirt assigns when the domain starts";
}

struct ChannelVerdict {
  std::optional<std::string> path;
  std::string problem;
};

ChannelVerdict unusable(std::string problem) { return {std::nullopt, std::move(problem)}; }

// The socket path of perfkvm's one channel, or why it cannot be used; `channel_label` starts
// the messages ("domain 'web1': channel 'org.perfkvm.0'").
ChannelVerdict judge_channel(XmlDocument& doc, xmlNode& channel, const std::string& channel_label,
                             bool running) {
  const std::string type = attribute(channel, "type").value_or("");
  if (type != "unix") {
    return unusable(channel_label + " has type '" + shown(type) +
                    "', which perfkvm does not support: it needs <channel type='unix'> with "
                    "<source mode='bind'/>" +
                    at_line(channel));
  }
  xmlNode* source = doc.select_first(channel, "./source");
  const xmlNode& where = source != nullptr ? *source : channel;
  const std::string path = source != nullptr ? attribute(*source, "path").value_or("") : "";
  // Without a path, libvirt generates one when the domain starts, and then always binds.
  if (path.empty()) return unusable(channel_label + no_path(running) + at_line(where));
  // libvirt's default mode is 'connect'.
  const std::string mode = attribute(*source, "mode").value_or("connect");
  if (mode != "bind") {
    return unusable(channel_label + " has <source mode='" + shown(mode) +
                    "'>, but perfkvm-hostd connects to the socket itself, so QEMU must "
                    "listen on it: use mode='bind'" +
                    at_line(*source));
  }
  if (path.front() != '/') {
    return unusable(channel_label + " has the relative socket path '" + shown(path) + "'" +
                    at_line(*source));
  }
  if (path.size() > kMaxSocketPath) {
    return unusable(channel_label + " has a socket path of " + std::to_string(path.size()) +
                    " bytes, more than the " + std::to_string(kMaxSocketPath) +
                    " a unix socket address holds" + at_line(*source));
  }
  return {path, {}};
}

// Sets channel_path or channel_problem when a channel is named channel_name (see header).
void read_channel(XmlDocument& doc, xmlNode& domain, std::string_view channel_name,
                  const std::string& subject, DomainXmlInfo& info) {
  std::vector<xmlNode*> ours;
  for (xmlNode* channel : doc.select(domain, "./devices/channel")) {
    xmlNode* target = doc.select_first(*channel, "./target");
    if (target != nullptr && attribute(*target, "type") == "virtio" &&
        attribute(*target, "name") == channel_name) {
      ours.push_back(channel);
    }
  }
  if (ours.empty()) return;

  const std::string channel_label = subject + ": channel '" + shown(channel_name) + "'";
  if (ours.size() > 1) {
    std::string lines;
    for (const xmlNode* channel : ours) {
      lines += (lines.empty() ? "" : ", ") + std::to_string(line_of(*channel));
    }
    info.channel_problem = channel_label + " is defined " + std::to_string(ours.size()) +
                           " times (lines " + lines +
                           "); the guest can open only one of them and QEMU refuses duplicate "
                           "port names: keep one";
    return;
  }
  auto verdict = judge_channel(doc, *ours.front(), channel_label, info.id.has_value());
  info.channel_path = std::move(verdict.path);
  info.channel_problem = std::move(verdict.problem);
}

void read_vsock(XmlDocument& doc, xmlNode& domain, const std::string& subject,
                DomainXmlInfo& info) {
  xmlNode* vsock = doc.select_first(domain, "./devices/vsock");
  if (vsock == nullptr) return;
  info.vsock = true;
  xmlNode* cid = doc.select_first(*vsock, "./cid");
  if (cid == nullptr) return;
  if (const auto automatic = attribute(*cid, "auto")) {
    if (*automatic != "yes" && *automatic != "no") {
      fail(subject, *cid, "<cid auto> '" + shown(*automatic) + "' is neither 'yes' nor 'no'");
    }
    info.vsock_auto = *automatic == "yes";
  }
  if (const auto address = attribute(*cid, "address")) {
    info.vsock_cid = static_cast<std::uint32_t>(
        whole_number(subject, *cid, "<cid address>", *address, kMinGuestCid, kMaxGuestCid));
  }
}

DomainXmlInfo read_domain(XmlDocument& doc, xmlNode& domain, std::string_view channel_name) {
  DomainXmlInfo info;
  info.name = read_name(doc, domain);
  const std::string subject = "domain '" + info.name + "'";
  info.uuid = read_uuid(doc, domain, subject);
  if (const auto id = attribute(domain, "id")) {
    info.id = static_cast<int>(whole_number(subject, domain, "<domain id>", *id, 0, kMaxDomainId));
  }
  read_vcpus(doc, domain, subject, info);
  read_channel(doc, domain, channel_name, subject, info);
  read_vsock(doc, domain, subject, info);
  return info;
}

XmlDocument parse_document(std::string_view xml, const std::string& what,
                           std::string_view root_name) {
  try {
    XmlDocument doc = XmlDocument::parse(xml);
    if (name_of(doc.root()) != root_name) {
      fail(what, doc.root(),
           "root element is <" + shown(name_of(doc.root())) + ">, expected <" +
               std::string(root_name) + ">");
    }
    return doc;
  } catch (const XmlError& error) {
    throw DomainXmlError(what + " " + error.what());
  }
}

std::string or_none(const std::optional<std::string>& value) { return value.value_or("none"); }

template <typename Number>
std::string or_none(const std::optional<Number>& value) {
  return value ? std::to_string(*value) : "none";
}

}  // namespace

DomainXmlInfo parse_domain_xml(std::string_view xml, std::string_view channel_name) {
  XmlDocument doc = parse_document(xml, "domain XML", "domain");
  return read_domain(doc, doc.root(), channel_name);
}

DomainStatus parse_status_xml(std::string_view xml, std::string_view channel_name) {
  XmlDocument doc = parse_document(xml, "status XML", "domstatus");
  xmlNode& root = doc.root();
  xmlNode* domain = doc.select_first(root, "./domain");
  if (domain == nullptr) fail("status XML", root, "<domstatus> has no <domain>");

  DomainStatus status;
  status.domain = read_domain(doc, *domain, channel_name);
  const std::string subject = "status XML of domain '" + status.domain.name + "'";
  if (const auto pid = attribute(root, "pid")) {
    status.qemu_pid =
        static_cast<pid_t>(whole_number(subject, root, "<domstatus pid>", *pid, 1, kMaxPid));
  }
  // ./vcpus of <domstatus>, not the <vcpus> hotplug layout inside <domain>.
  for (xmlNode* vcpu : doc.select(root, "./vcpus/vcpu")) {
    const auto id = attribute(*vcpu, "id");
    const auto pid = attribute(*vcpu, "pid");
    if (!id || !pid) fail(subject, *vcpu, "<vcpu> needs both id and pid");
    const auto vcpu_id = static_cast<std::uint32_t>(
        whole_number(subject, *vcpu, "<vcpu id>", *id, 0, status.domain.max_vcpus - 1));
    const auto thread =
        static_cast<pid_t>(whole_number(subject, *vcpu, "<vcpu pid>", *pid, 1, kMaxPid));
    const bool seen = std::any_of(status.vcpu_threads.begin(), status.vcpu_threads.end(),
                                  [&](const auto& entry) { return entry.first == vcpu_id; });
    if (seen) fail(subject, *vcpu, "vCPU " + std::to_string(vcpu_id) + " is listed twice");
    status.vcpu_threads.emplace_back(vcpu_id, thread);
  }
  std::sort(status.vcpu_threads.begin(), status.vcpu_threads.end());
  return status;
}

std::string describe(const DomainXmlInfo& info) {
  std::ostringstream out;
  out << "name: " << info.name << '\n'
      << "uuid: " << info.uuid << '\n'
      << "id: " << or_none(info.id) << '\n'
      << "vcpus: " << info.vcpus << '\n'
      << "max_vcpus: " << info.max_vcpus << '\n'
      << "channel_path: " << or_none(info.channel_path) << '\n'
      << "channel_problem: " << (info.channel_problem.empty() ? "none" : info.channel_problem)
      << '\n'
      << "vsock: " << (info.vsock ? "yes" : "no") << '\n'
      << "vsock_auto: " << (info.vsock_auto ? "yes" : "no") << '\n'
      << "vsock_cid: " << or_none(info.vsock_cid) << '\n';
  return out.str();
}

std::string describe(const DomainStatus& status) {
  std::ostringstream out;
  out << "qemu_pid: " << or_none(status.qemu_pid) << '\n';
  for (const auto& [vcpu, thread] : status.vcpu_threads) {
    out << "vcpu " << vcpu << " thread: " << thread << '\n';
  }
  out << describe(status.domain);
  return out.str();
}

}  // namespace perfkvm::host
