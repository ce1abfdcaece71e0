// libFuzzer target: untrusted text through parse_domain_xml and parse_status_xml
// (host-agent/domains/domain_xml.hpp), as perfkvm-hostd gets it from libvirt (the domain XML)
// and from /run/libvirt/qemu/<name>.xml (QEMU's status XML). Every input goes through both.
// Checks, beyond "no crash, no leak, no exception but DomainXmlError":
//   - a domain that parses keeps the header's promises: a name without '/' or control
//     characters, a canonical UUID, 1 <= vcpus <= max_vcpus <= 16384, at most one of
//     channel_path and channel_problem, a path that is absolute and fits a unix socket
//     address, a CID in 3..0xFFFFFFFE, auto and CID only on a vsock device;
//   - a status has its vCPU threads sorted by vCPU id, each id once and below max_vcpus,
//     every pid >= 1, and the QEMU pid >= 1;
//   - no text parses as both (their root elements differ);
//   - the document as libxml2 writes it back (XmlDocument::serialize, what perfkvm-host's XML
//     editing hands to libvirt) parses to the same domain: only channel_problem may differ,
//     in the line numbers it quotes, but not in being set.
// Input: the XML text, nothing else (seeds: fuzz/make_seed_corpus.py).
#include <sys/un.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "host-agent/domains/domain_xml.hpp"
#include "host-agent/domains/xml_document.hpp"
#include "util/uuid.hpp"

using namespace perfkvm::host;

namespace {

// As host-agent/domains/domain_xml.cpp bounds them.
constexpr std::uint32_t kMaxVcpus = 16384;
constexpr std::uint64_t kMinGuestCid = 3;
constexpr std::uint64_t kMaxGuestCid = 0xFFFFFFFE;
constexpr std::size_t kMaxSocketPath = sizeof(sockaddr_un{}.sun_path) - 1;

void check(bool condition) {
  if (!condition) std::abort();
}

bool is_control(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }

void check_domain(const DomainXmlInfo& info) {
  check(!info.name.empty());
  for (const char c : info.name) check(c != '/' && !is_control(c));
  check(perfkvm::is_canonical_uuid(info.uuid));
  check(!info.id || *info.id >= 0);
  check(info.vcpus >= 1 && info.vcpus <= info.max_vcpus && info.max_vcpus <= kMaxVcpus);
  check(!(info.channel_path && !info.channel_problem.empty()));
  if (info.channel_path) {
    check(!info.channel_path->empty() && info.channel_path->front() == '/');
    check(info.channel_path->size() <= kMaxSocketPath);
  }
  check(info.vsock || (!info.vsock_auto && !info.vsock_cid));
  check(!info.vsock_cid || (*info.vsock_cid >= kMinGuestCid && *info.vsock_cid <= kMaxGuestCid));
  check(!describe(info).empty());
}

void check_status(const DomainStatus& status) {
  check_domain(status.domain);
  check(!status.qemu_pid || *status.qemu_pid >= 1);
  for (std::size_t i = 0; i < status.vcpu_threads.size(); ++i) {
    const auto& [vcpu, thread] = status.vcpu_threads[i];
    check(vcpu < status.domain.max_vcpus);
    check(thread >= 1);
    check(i == 0 || status.vcpu_threads[i - 1].first < vcpu);
  }
  check(!describe(status).empty());
}

// The same answer but for the line numbers channel_problem quotes.
bool same_domain(DomainXmlInfo a, DomainXmlInfo b) {
  if (a.channel_problem.empty() != b.channel_problem.empty()) return false;
  a.channel_problem.clear();
  b.channel_problem.clear();
  return a == b;
}

std::optional<DomainXmlInfo> domain_of(std::string_view xml) {
  try {
    return parse_domain_xml(xml);
  } catch (const DomainXmlError&) {
    return std::nullopt;
  }
}

std::optional<DomainStatus> status_of(std::string_view xml) {
  try {
    return parse_status_xml(xml);
  } catch (const DomainXmlError&) {
    return std::nullopt;
  }
}

// What libxml2 writes back for the text; it parsed once, so it parses again.
std::string rewritten(std::string_view xml) { return XmlDocument::parse(xml).serialize(); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view xml(reinterpret_cast<const char*>(data), size);
  const auto domain = domain_of(xml);
  const auto status = status_of(xml);
  check(!(domain && status));
  if (domain) {
    check_domain(*domain);
    const auto again = domain_of(rewritten(xml));
    check(again && same_domain(*domain, *again));
  }
  if (status) {
    check_status(*status);
    const auto again = status_of(rewritten(xml));
    check(again && same_domain(status->domain, again->domain));
    check(again->qemu_pid == status->qemu_pid && again->vcpu_threads == status->vcpu_threads);
  }
  return 0;
}
