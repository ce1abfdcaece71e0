// Direct API checks of parse_domain_xml / parse_status_xml beyond the fixtures: the channel
// name parameter, messages about hostile values, and truncated or corrupted input.
#include <doctest/doctest.h>

#include <string>

#include "host-agent/domains/domain_xml.hpp"
#include "tests/unit/test_data.hpp"

using namespace perfkvm::host;
using perfkvm::test::data_dir;
using perfkvm::test::read_file;

namespace {

std::string fixture(const char* name) { return read_file(data_dir() / "domains" / name); }

std::string domain_with(const std::string& inside) {
  return "<domain type='kvm'>\n  <name>web1</name>\n"
         "  <uuid>6f3b0c52-8d1e-4b7a-9a55-2f0e3c9d1a47</uuid>\n" +
         inside + "</domain>\n";
}

std::string error_of(const std::string& xml) {
  try {
    parse_domain_xml(xml);
  } catch (const DomainXmlError& error) {
    return error.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("the channel name selects which virtio port is perfkvm's") {
  const std::string xml = fixture("custom-channel-name.xml");

  const auto by_default = parse_domain_xml(xml);
  CHECK_FALSE(by_default.channel_path.has_value());
  CHECK(by_default.channel_problem.find("channel 'org.perfkvm.0' has type 'pty'") !=
        std::string::npos);

  const auto custom = parse_domain_xml(xml, "com.example.perfmon.0");
  CHECK(custom.channel_path == "/run/perfmon/custom13.sock");
  CHECK(custom.channel_problem.empty());

  // Names match exactly, never by prefix.
  const auto prefix = parse_domain_xml(xml, "com.example.perfmon");
  CHECK_FALSE(prefix.channel_path.has_value());
  CHECK(prefix.channel_problem.empty());

  CHECK(parse_domain_xml(fixture("channel-beside-guest-agent.xml"), "org.qemu.guest_agent.0")
            .channel_path ==
        "/var/lib/libvirt/qemu/channel/target/domain-5-app3/org.qemu.guest_agent.0");
}

TEST_CASE("channel shapes libvirt itself does not write") {
  const std::string target = "<target type='virtio' name='org.perfkvm.0'/>";
  // libvirt's default source mode is 'connect'.
  CHECK(parse_domain_xml(domain_with("<devices><channel type='unix'><source path='/run/a.sock'/>" +
                                     target + "</channel></devices>"))
            .channel_problem.find("has <source mode='connect'>") != std::string::npos);
  // Without a path libvirt generates one and binds, whatever the mode said.
  CHECK(parse_domain_xml(domain_with("<devices><channel type='unix'><source mode='connect'/>" +
                                     target + "</channel></devices>"))
            .channel_problem.find("has no socket path yet") != std::string::npos);
  // Live XML always carries the generated path; its absence is reported differently.
  const std::string running =
      "<domain id='4'><name>web1</name><uuid>6f3b0c52-8d1e-4b7a-9a55-2f0e3c9d1a47</uuid>"
      "<devices><channel type='unix'>" +
      target + "</channel></devices></domain>";
  CHECK(parse_domain_xml(running).channel_problem ==
        "domain 'web1': channel 'org.perfkvm.0' has no socket path although the domain is "
        "running (line 1)");
  // A channel without type, and one whose target is not virtio-serial.
  CHECK(parse_domain_xml(domain_with("<devices><channel>" + target + "</channel></devices>"))
            .channel_problem.find("has type ''") != std::string::npos);
  const auto guestfwd = parse_domain_xml(
      domain_with("<devices><channel type='unix'><source mode='bind' path='/run/a.sock'/>"
                  "<target type='guestfwd' name='org.perfkvm.0'/></channel></devices>"));
  CHECK_FALSE(guestfwd.channel_path.has_value());
  CHECK(guestfwd.channel_problem.empty());
}

TEST_CASE("each parser refuses the other's document") {
  CHECK(error_of(fixture("status-running.xml")) ==
        "domain XML: line 1: root element is <domstatus>, expected <domain>");
  CHECK_THROWS_WITH_AS(parse_status_xml(fixture("channel-explicit-path.xml")),
                       "status XML: line 1: root element is <domain>, expected <domstatus>",
                       DomainXmlError);
}

TEST_CASE("status XML: QEMU pid, vCPU threads and the live domain inside") {
  const auto status = parse_status_xml(fixture("status-running.xml"));
  CHECK(status.qemu_pid == 48213);
  REQUIRE(status.vcpu_threads.size() == 2);
  CHECK(status.vcpu_threads[0] == std::pair<std::uint32_t, pid_t>{0, 48221});
  CHECK(status.vcpu_threads[1] == std::pair<std::uint32_t, pid_t>{1, 48222});
  CHECK(status.domain.id == 1);
  CHECK(status.domain.vcpus == 2);
}

TEST_CASE("numbers out of range are errors with the offending text") {
  CHECK(error_of(domain_with("  <vcpu>18446744073709551616</vcpu>\n")) ==
        "domain 'web1': line 4: <vcpu> '18446744073709551616' is not a whole number in "
        "1..16384");
  CHECK(error_of(domain_with("  <vcpu>0</vcpu>\n")) ==
        "domain 'web1': line 4: <vcpu> '0' is not a whole number in 1..16384");
  CHECK(error_of(domain_with("  <vcpu>2 </vcpu>\n")) == "(no error)");
  CHECK(error_of(domain_with("  <vcpu>0x2</vcpu>\n")) ==
        "domain 'web1': line 4: <vcpu> '0x2' is not a whole number in 1..16384");
  CHECK(error_of("<domain id='2147483648'><name>a</name>"
                 "<uuid>6f3b0c52-8d1e-4b7a-9a55-2f0e3c9d1a47</uuid></domain>") ==
        "domain 'a': line 1: <domain id> '2147483648' is not a whole number in 0..2147483647");
  CHECK(
      error_of(domain_with("  <devices><vsock><cid address='4294967295'/></vsock></devices>\n")) ==
      "domain 'web1': line 4: <cid address> '4294967295' is not a whole number in "
      "3..4294967294");
  CHECK(error_of(domain_with("  <devices><vsock><cid auto='on'/></vsock></devices>\n")) ==
        "domain 'web1': line 4: <cid auto> 'on' is neither 'yes' nor 'no'");
}

TEST_CASE("hostile text in messages is bounded and cannot forge lines") {
  CHECK(error_of("<domain><name>a&#10;b</name></domain>") ==
        "domain XML: line 1: <name> 'a?b' contains '/' or a control character");

  const std::string long_value(500, '9');
  const std::string message = error_of(domain_with("  <vcpu>" + long_value + "</vcpu>\n"));
  CHECK(message.find(std::string(80, '9') + "...'") != std::string::npos);
  CHECK(message.size() < 200);

  // A cut inside a multi-byte character would leave invalid UTF-8 in the message.
  std::string accents;
  for (int i = 0; i < 60; ++i) accents += "\xC3\xA9";  // é
  const std::string cut = error_of(domain_with("  <vcpu>" + accents + "</vcpu>\n"));
  CHECK(cut.find("\xC3\xA9...'") != std::string::npos);
}

TEST_CASE("status XML vCPU threads: sorted by id, each with id and pid") {
  const auto status_with = [](const std::string& vcpus) {
    return "<domstatus><vcpus>" + vcpus +
           "</vcpus><domain><name>a</name><uuid>6f3b0c52-8d1e-4b7a-9a55-2f0e3c9d1a47</uuid>"
           "<vcpu>4</vcpu></domain></domstatus>";
  };
  const auto status =
      parse_status_xml(status_with("<vcpu id='3' pid='30'/><vcpu id='1' pid='10'/>"));
  CHECK(status.qemu_pid == std::nullopt);
  REQUIRE(status.vcpu_threads.size() == 2);
  CHECK(status.vcpu_threads[0] == std::pair<std::uint32_t, pid_t>{1, 10});
  CHECK(status.vcpu_threads[1] == std::pair<std::uint32_t, pid_t>{3, 30});
  CHECK_THROWS_WITH_AS(parse_status_xml(status_with("<vcpu id='0'/>")),
                       "status XML of domain 'a': line 1: <vcpu> needs both id and pid",
                       DomainXmlError);
}

TEST_CASE("truncated status XML is always an error, never a crash") {
  const std::string xml = fixture("status-running.xml");
  REQUIRE_NOTHROW(parse_status_xml(xml));
  // Every proper prefix leaves <domstatus> unclosed (the last one cuts its final '>').
  const std::size_t last_tag = xml.rfind("</domstatus>");
  REQUIRE(last_tag != std::string::npos);
  int errors = 0;
  for (std::size_t length = 0; length <= last_tag + 11; length += 7) {
    try {
      parse_status_xml(std::string_view(xml).substr(0, length));
    } catch (const DomainXmlError&) {
      ++errors;
    }
  }
  CHECK(errors == static_cast<int>((last_tag + 11) / 7 + 1));
}

TEST_CASE("corrupted bytes give a result or a DomainXmlError, nothing else") {
  const std::string original = fixture("channel-several.xml");
  int parsed = 0;
  int refused = 0;
  for (const char replacement : {'<', '>', '\'', '&', '/', '\x80', '\x01'}) {
    for (std::size_t at = 0; at < original.size(); at += 13) {
      std::string xml = original;
      xml[at] = replacement;
      try {
        const auto info = parse_domain_xml(xml);
        CHECK_FALSE((info.channel_path.has_value() && !info.channel_problem.empty()));
        ++parsed;
      } catch (const DomainXmlError&) {
        ++refused;
      }
    }
  }
  // Both outcomes must occur, or the loop did not exercise what it claims to.
  CHECK(parsed > 0);
  CHECK(refused > 0);
}
