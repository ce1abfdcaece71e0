// Adding/removing perfkvm's device in domain XML, and the xml/ snippets matching what
// perfkvm-host adds.
#include <doctest/doctest.h>

#include "host-agent/admin/domain_xml_edit.hpp"
#include "host-agent/domains/domain_xml.hpp"
#include "host-agent/domains/xml_document.hpp"
#include "test_data.hpp"

using namespace perfkvm::host;
using perfkvm::test::data_dir;
using perfkvm::test::read_file;

namespace {

const char* kDomain = R"(<domain type='kvm'>
  <name>web1</name>
  <uuid>6f1a52a4-6c0e-4b7e-9d3c-0a1b2c3d4e01</uuid>
  <vcpu>2</vcpu>
  <devices>
    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
  </devices>
</domain>)";

// The element's canonical form: comments and whitespace do not count.
std::string canonical(const std::string& xml) {
  std::string text = XmlDocument::parse(xml).serialize();
  text = text.substr(text.find("?>") + 2);
  for (auto comment = text.find("<!--"); comment != std::string::npos; comment = text.find("<!--")) {
    text.erase(comment, text.find("-->", comment) + 3 - comment);
  }
  std::string squeezed;
  bool in_space = false;
  for (char c : text) {
    const bool space = c == ' ' || c == '\n';
    if (space && in_space) continue;
    squeezed += space ? ' ' : c;
    in_space = space;
  }
  std::string out;
  for (std::size_t i = 0; i < squeezed.size(); ++i) {
    if (squeezed[i] == ' ' && i + 1 < squeezed.size() && squeezed[i + 1] == '<') continue;
    if (squeezed[i] == ' ' && i > 0 && squeezed[i - 1] == '>') continue;
    out += squeezed[i];
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace

TEST_CASE("adding the channel: once, beside other channels, and idempotent") {
  const auto added = add_device(kDomain, PerfkvmDevice::channel, "org.perfkvm.0");
  REQUIRE(added);
  const auto info = parse_domain_xml(*added);
  CHECK_FALSE(info.channel_path);  // libvirt assigns the path at start
  CHECK(info.channel_problem.find("no socket path") != std::string::npos);
  CHECK(added->find("org.qemu.guest_agent.0") != std::string::npos);
  CHECK_FALSE(add_device(*added, PerfkvmDevice::channel, "org.perfkvm.0"));
  // Another name is another channel.
  CHECK(add_device(*added, PerfkvmDevice::channel, "org.example.0"));
}

TEST_CASE("removing the channel leaves the others") {
  const auto added = add_device(kDomain, PerfkvmDevice::channel, "org.perfkvm.0");
  REQUIRE(added);
  const auto removed = remove_device(*added, PerfkvmDevice::channel, "org.perfkvm.0");
  REQUIRE(removed);
  // Exactly what it was before the channel was added.
  CHECK(canonical(*removed) == canonical(kDomain));
  CHECK_FALSE(remove_device(*removed, PerfkvmDevice::channel, "org.perfkvm.0"));
}

namespace {

// A domain with perfkvm's channel and vsock among devices that look alike.
const char* kBusyDomain = R"(<domain type='kvm' id='3'>
  <name>web1</name>
  <uuid>6f1a52a4-6c0e-4b7e-9d3c-0a1b2c3d4e01</uuid>
  <!-- kept: a comment -->
  <vcpu placement='static'>2</vcpu>
  <devices>
    <channel type='unix'>
      <source mode='bind' path='/run/qga.sock'/>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
    <channel type='unix'>
      <source mode='bind' path='/run/perfkvm.sock'/>
      <target type='virtio' name='org.perfkvm.0' state='connected'/>
      <alias name='channel1'/>
      <address type='virtio-serial' controller='0' bus='0' port='2'/>
    </channel>
    <channel type='pty'>
      <target type='xen' name='org.perfkvm.0'/>
    </channel>
    <channel type='unix'>
      <target type='virtio' name='org.perfkvm.1'/>
    </channel>
    <vsock model='virtio'>
      <cid auto='no' address='7'/>
      <alias name='vsock0'/>
    </vsock>
    <serial type='pty'><target port='0'/></serial>
  </devices>
</domain>)";

// kBusyDomain without the element that starts with `first_line` (up to its closing tag).
std::string without(const std::string& first_line, const std::string& closing_tag) {
  std::string xml = kBusyDomain;
  const auto start = xml.find(first_line);
  REQUIRE(start != std::string::npos);
  const auto end = xml.find(closing_tag, start);
  REQUIRE(end != std::string::npos);
  xml.erase(start, end + closing_tag.size() - start);
  return xml;
}

}  // namespace

TEST_CASE("remove_device takes out exactly perfkvm's element and keeps everything else") {
  SUBCASE("the channel: a virtio target of that name, not the xen one nor org.perfkvm.1") {
    const auto removed = remove_device(kBusyDomain, PerfkvmDevice::channel, "org.perfkvm.0");
    REQUIRE(removed);
    CHECK(canonical(*removed) ==
          canonical(without("<channel type='unix'>\n      <source mode='bind' "
                            "path='/run/perfkvm.sock'/>",
                            "</channel>")));
    CHECK(removed->find("<!-- kept: a comment -->") != std::string::npos);
    const auto info = parse_domain_xml(*removed);
    CHECK_FALSE(info.channel_path);
    CHECK(info.vsock_cid == 7u);
  }
  SUBCASE("another name: that channel only") {
    const auto removed = remove_device(kBusyDomain, PerfkvmDevice::channel, "org.perfkvm.1");
    REQUIRE(removed);
    CHECK(canonical(*removed) ==
          canonical(without("<channel type='unix'>\n      <target type='virtio' "
                            "name='org.perfkvm.1'/>",
                            "</channel>")));
    CHECK(parse_domain_xml(*removed).channel_path == "/run/perfkvm.sock");
  }
  SUBCASE("the vsock device") {
    const auto removed = remove_device(kBusyDomain, PerfkvmDevice::vsock, "org.perfkvm.0");
    REQUIRE(removed);
    CHECK(canonical(*removed) == canonical(without("<vsock model='virtio'>", "</vsock>")));
    CHECK(removed->find("<!-- kept: a comment -->") != std::string::npos);
    const auto info = parse_domain_xml(*removed);
    CHECK_FALSE(info.vsock);
    CHECK(info.channel_path == "/run/perfkvm.sock");
  }
}

TEST_CASE("remove_device takes out every copy of a duplicated channel") {
  const auto twice = add_device(
      std::string(kDomain).replace(std::string(kDomain).find("</devices>"), 0,
                                   device_xml(PerfkvmDevice::channel, "org.perfkvm.0")),
      PerfkvmDevice::channel, "org.example.0");
  REQUIRE(twice);
  const auto doubled = add_device(*twice, PerfkvmDevice::channel, "org.example.1");
  REQUIRE(doubled);
  std::string duplicated = *doubled;
  duplicated.replace(duplicated.find("org.example.1"), 13, "org.perfkvm.0");
  REQUIRE(parse_domain_xml(duplicated).channel_problem.find("is defined 2 times") !=
          std::string::npos);
  const auto removed = remove_device(duplicated, PerfkvmDevice::channel, "org.perfkvm.0");
  REQUIRE(removed);
  const auto expected = add_device(kDomain, PerfkvmDevice::channel, "org.example.0");
  REQUIRE(expected);
  CHECK(canonical(*removed) == canonical(*expected));
}

TEST_CASE("vsock: added once, found, removed") {
  const auto added = add_device(kDomain, PerfkvmDevice::vsock, "org.perfkvm.0");
  REQUIRE(added);
  const auto info = parse_domain_xml(*added);
  CHECK(info.vsock);
  CHECK(info.vsock_auto);
  CHECK_FALSE(add_device(*added, PerfkvmDevice::vsock, "org.perfkvm.0"));
  const auto found = find_device(*added, PerfkvmDevice::vsock, "org.perfkvm.0");
  REQUIRE(found);
  CHECK(found->rfind("<vsock model=\"virtio\">", 0) == 0);
  const auto removed = remove_device(*added, PerfkvmDevice::vsock, "org.perfkvm.0");
  REQUIRE(removed);
  CHECK(canonical(*removed) == canonical(kDomain));
  CHECK_FALSE(parse_domain_xml(*removed).vsock);
  CHECK_FALSE(remove_device(*removed, PerfkvmDevice::vsock, "org.perfkvm.0"));
}

TEST_CASE("a domain without <devices> gets one") {
  const auto added = add_device(
      "<domain type='kvm'><name>d</name><uuid>6f1a52a4-6c0e-4b7e-9d3c-0a1b2c3d4e01</uuid></domain>",
      PerfkvmDevice::vsock, "org.perfkvm.0");
  REQUIRE(added);
  CHECK(parse_domain_xml(*added).vsock);
}

TEST_CASE("channel names that could inject XPath or XML are refused") {
  CHECK_THROWS_AS(add_device(kDomain, PerfkvmDevice::channel, "x' or '1'='1"), DomainXmlError);
  CHECK_THROWS_AS(device_xml(PerfkvmDevice::channel, "a'/><evil/>"), DomainXmlError);
  CHECK_THROWS_AS(add_device(kDomain, PerfkvmDevice::channel, ""), DomainXmlError);
}

TEST_CASE("the xml/ snippets are exactly what perfkvm-host xml enable adds") {
  const auto root = data_dir().parent_path().parent_path() / "xml";
  CHECK(canonical(read_file(root / "perfkvm-channel.xml")) ==
        canonical(device_xml(PerfkvmDevice::channel, "org.perfkvm.0")));
  CHECK(canonical(read_file(root / "perfkvm-vsock.xml")) ==
        canonical(device_xml(PerfkvmDevice::vsock, "org.perfkvm.0")));
  // The explicit-path variant is the same channel plus a bind source.
  const auto with_path = parse_domain_xml(
      "<domain><name>d</name><uuid>6f1a52a4-6c0e-4b7e-9d3c-0a1b2c3d4e01</uuid><devices>" +
      read_file(root / "perfkvm-channel-path.xml").substr(
          read_file(root / "perfkvm-channel-path.xml").find("<channel")) +
      "</devices></domain>");
  CHECK(with_path.channel_path == "/var/lib/libvirt/qemu/channel/target/perfkvm-DOMAIN.sock");
}
