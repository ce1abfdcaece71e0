// perfkvm-host xml against libvirt's test driver, which keeps <channel> and <vsock> through
// define and dumpxml (it has no attach-device: --live is exercised end to end).
#include <doctest/doctest.h>

#include <sstream>

#include "host-agent/admin/xml_command.hpp"
#include "host-agent/domains/domain_xml.hpp"
#include "test_data.hpp"

using namespace perfkvm::host;

namespace {

struct Driver {
  ConnectPtr connection;
  Driver() {
    silence_libvirt_default_errors();
    const std::string uri =
        "test://" + (perfkvm::test::data_dir() / "test-driver" / "node.xml").string();
    connection.reset(virConnectOpen(uri.c_str()));
    REQUIRE_MESSAGE(connection, libvirt_error());
  }
  std::string run(XmlCommand command) {
    std::ostringstream out;
    run_xml_command(connection.get(), command, out);
    return out.str();
  }
  DomainXmlInfo inactive(const std::string& name) {
    DomainPtr domain(virDomainLookupByName(connection.get(), name.c_str()));
    LibvirtString xml(virDomainGetXMLDesc(domain.get(), VIR_DOMAIN_XML_INACTIVE));
    return parse_domain_xml(xml.get());
  }
};

XmlCommand command(XmlCommand::Action action, const std::string& domain,
                   PerfkvmDevice device = PerfkvmDevice::channel) {
  XmlCommand c;
  c.action = action;
  c.domain = domain;
  c.device = device;
  return c;
}

}  // namespace

TEST_CASE("xml enable --config adds the channel once; disable takes it away") {
  Driver driver;
  CHECK(driver.run(command(XmlCommand::Action::show, "legacy")) ==
        "domain: legacy (running)\n"
        "perfkvm: not enabled (no channel org.perfkvm.0, no vsock)\n"
        "enable it with:\n  perfkvm-host xml enable legacy --channel --config --live\n");

  CHECK(driver.run(command(XmlCommand::Action::enable, "legacy")) ==
        "added the perfkvm channel (org.perfkvm.0) to the persistent definition of 'legacy' "
        "(takes effect at its next start; --live adds it now)\n");
  const auto info = driver.inactive("legacy");
  CHECK(info.channel_problem.find("no socket path") != std::string::npos);

  CHECK(driver.run(command(XmlCommand::Action::enable, "legacy")) ==
        "domain 'legacy' already has the perfkvm channel (org.perfkvm.0) in its persistent "
        "definition: nothing changed\n");

  CHECK(driver.run(command(XmlCommand::Action::disable, "legacy")) ==
        "removed the perfkvm channel (org.perfkvm.0) from the persistent definition of 'legacy'\n");
  CHECK(driver.inactive("legacy").channel_problem.empty());
  CHECK(driver.run(command(XmlCommand::Action::disable, "legacy")) ==
        "domain 'legacy' has no perfkvm channel (org.perfkvm.0) in its persistent "
        "definition: nothing changed\n");
}

TEST_CASE("xml show: what perfkvm would use") {
  Driver driver;
  CHECK(driver.run(command(XmlCommand::Action::show, "web1")) ==
        "domain: web1 (running)\ntransport: virtio-serial\nsocket: /run/perfkvm-test/web1.sock\n");
  CHECK(driver.run(command(XmlCommand::Action::show, "web2")) ==
        "domain: web2 (running)\ntransport: vsock\nCID: 7\n");
}

TEST_CASE("xml enable errors name the fix") {
  Driver driver;
  auto expect_error = [&](XmlCommand c, const std::string& message) {
    CAPTURE(c.domain);
    CHECK_THROWS_WITH_AS(driver.run(c), message.c_str(), std::runtime_error);
  };
  expect_error(command(XmlCommand::Action::enable, "nosuch"),
               "domain 'nosuch' not found (perfkvm-host list shows the domains)");

  auto live = command(XmlCommand::Action::enable, "db");
  live.live = true;
  expect_error(live, "domain 'db' is not running: --live changes a running domain; use --config");

  auto vsock = command(XmlCommand::Action::enable, "web1", PerfkvmDevice::vsock);
  vsock.vhost_vsock = "/nonexistent/vhost-vsock";
  expect_error(vsock,
               "this host has no /nonexistent/vhost-vsock (kernel module vhost_vsock): QEMU "
               "could not start a domain with a vsock device; use the virtio-serial channel "
               "(--channel) instead");
  // A domain that already has vsock: nothing to do, whatever the host has.
  auto again = command(XmlCommand::Action::enable, "web2", PerfkvmDevice::vsock);
  again.vhost_vsock = "/nonexistent/vhost-vsock";
  CHECK(driver.run(again).find("nothing changed") != std::string::npos);

  auto hotplug = command(XmlCommand::Action::enable, "web2");
  hotplug.live = true;
  expect_error(hotplug,
               "libvirt could not hot-plug the perfkvm channel (org.perfkvm.0) into 'web2': this "
               "function is not supported by the connection driver: virDomainAttachDeviceFlags");

  const char* transient_xml =
      "<domain type='test'><name>scratch</name><memory>65536</memory><vcpu>1</vcpu>"
      "<os><type>hvm</type></os></domain>";
  DomainPtr transient(virDomainCreateXML(driver.connection.get(), transient_xml, 0));
  REQUIRE(transient);
  auto config = command(XmlCommand::Action::enable, "scratch");
  config.config = true;
  expect_error(config,
               "domain 'scratch' is transient: it has no persistent definition to edit; use --live");
}
