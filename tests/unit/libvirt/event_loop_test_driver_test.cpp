// libvirt's own event delivery on the Asio loop: the test driver (in-process, no daemon)
// queues domain events and flushes them from a timeout registered on the event loop.
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "loop_fixture.hpp"
#include "test_data.hpp"

using namespace perfkvm::test;

namespace {

struct ConnectClose {
  void operator()(virConnectPtr conn) const { virConnectClose(conn); }
};
struct DomainFree {
  void operator()(virDomainPtr domain) const { virDomainFree(domain); }
};
using Connection = std::unique_ptr<virConnect, ConnectClose>;
using Domain = std::unique_ptr<virDomain, DomainFree>;

struct Lifecycle {
  std::vector<int> events;
  std::vector<std::string> domains;
};

int on_lifecycle(virConnectPtr, virDomainPtr domain, int event, int, void* opaque) {
  auto& seen = *static_cast<Lifecycle*>(opaque);
  seen.events.push_back(event);
  const char* name = virDomainGetName(domain);
  seen.domains.emplace_back(name ? name : "");
  return 0;
}

bool saw(const Lifecycle& seen, int event) {
  for (int e : seen.events) {
    if (e == event) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("test driver lifecycle events arrive through the Asio loop") {
  Lifecycle seen;
  LoopFixture fixture;  // before the connection, as libvirt requires
  const Connection conn(virConnectOpen("test:///default"));
  REQUIRE(conn != nullptr);
  const int callback = virConnectDomainEventRegisterAny(
      conn.get(), nullptr, VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle),
      &seen, nullptr);
  REQUIRE(callback >= 0);
  CHECK(fixture.loop.stats().timeouts >= 1);  // the driver's event queue timer

  const std::string xml = read_file(data_dir() / "libvirt" / "transient-domain.xml");
  const Domain domain(virDomainCreateXML(conn.get(), xml.c_str(), 0));
  REQUIRE(domain != nullptr);
  CHECK(seen.events.empty());  // queued; only the io_context delivers it
  REQUIRE(fixture.run_until([&] { return saw(seen, VIR_DOMAIN_EVENT_STARTED); }));

  REQUIRE(virDomainDestroy(domain.get()) == 0);
  REQUIRE(fixture.run_until([&] { return saw(seen, VIR_DOMAIN_EVENT_STOPPED); }));
  CHECK(seen.events == std::vector<int>{VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STOPPED});
  CHECK(seen.domains == std::vector<std::string>{"perfkvm-loop-test", "perfkvm-loop-test"});
  CHECK(fixture.loop.stats().timeout_callbacks >= 2);

  // The last deregistration removes the driver's timer from the loop.
  CHECK(virConnectDomainEventDeregisterAny(conn.get(), callback) == 0);
  CHECK(fixture.loop.stats().timeouts == 0);
  fixture.run_for(20ms);  // its free callback (libvirt's unref) runs on the io_context
}
