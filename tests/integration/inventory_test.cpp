// Discovery and the admin CLI against libvirt's test driver (no daemon): perfkvm-host list on a
// fixture node, hostd's monitor following domains that start and stop, a whole guest session
// through monitor -> registry -> virtio-serial client -> session -> counters on the threads of
// a stand-in QEMU process, and perfkvm-host stat counting those threads.
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <filesystem>
#include <sstream>

#include "fake_qemu_process.hpp"
#include "host-agent/admin/domain_listing.hpp"
#include "host-agent/admin/stat_command.hpp"
#include "host-agent/inventory/domain_registry.hpp"
#include "host-agent/inventory/libvirt_monitor.hpp"
#include "host-agent/libvirt/event_loop.hpp"
#include "host-agent/session/event_table.hpp"
#include "test_data.hpp"
#include "test_guest.hpp"
#include "tests/common/host_pmu.hpp"

using namespace perfkvm;
using namespace perfkvm::host;
using namespace std::chrono_literals;
using perfkvm::test::FakeQemuProcess;
using perfkvm::test::TestGuest;

namespace {

const std::string kNonce = "00112233445566778899aabbccddeeff";

std::string fixture_uri() {
  return "test://" + (perfkvm::test::data_dir() / "test-driver" / "node.xml").string();
}

ConnectPtr open(const std::string& uri) {
  silence_libvirt_default_errors();
  ConnectPtr connection(virConnectOpen(uri.c_str()));
  REQUIRE_MESSAGE(connection, "cannot open " << uri << ": " << libvirt_error());
  return connection;
}

const DomainListing& by_name(const std::vector<DomainListing>& list, const std::string& name) {
  for (const auto& d : list) {
    if (d.info.name == name) return d;
  }
  FAIL("no domain " << name);
  throw std::logic_error("unreachable");
}

std::filesystem::path temp_dir() {
  auto dir = std::filesystem::temp_directory_path() / ("perfkvm-inv-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir;
}

// Plays QEMU's side of a channel socket: listens, accepts hostd.
struct ChannelSocketServer {
  explicit ChannelSocketServer(const std::filesystem::path& path) : path_(path) {
    std::filesystem::remove(path);
    fd_ = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
    REQUIRE(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(fd_.get(), 2) == 0);
  }
  UniqueFd accept(boost::asio::io_context& io) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      const int fd = ::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) return UniqueFd(fd);
      io.run_for(5ms);
    }
    FAIL("hostd never connected to " << path_);
    return {};
  }
  std::filesystem::path path_;
  UniqueFd fd_;
};

// hostd's discovery side (libvirt event loop, registry, monitor) on one io_context, against
// test:///default: one shared state per process, so the test's own connection changes what
// the monitor's connection sees, and its events reach the monitor.
struct MonitoredRegistry {
  boost::asio::io_context io;
  LibvirtEventLoop loop{io};
  SessionConfig config;
  std::vector<protocol::EventStatus> events = probe_event_table();
  HostPaths paths = [] {
    HostPaths p;
    p.libvirt_qemu_run_dir = temp_dir();
    return p;
  }();
  DomainRegistry registry{io.get_executor(), config, events, paths};
  LibvirtMonitor monitor{io.get_executor(), "test:///default", "org.perfkvm.0", registry};

  ~MonitoredRegistry() {
    monitor.stop();
    registry.stop_all();
    io.run_for(std::chrono::milliseconds(50));
  }
};

std::string domain_xml(const std::string& name, const std::string& uuid,
                       const std::filesystem::path& channel) {
  return "<domain type='test'><name>" + name + "</name><uuid>" + uuid +
         "</uuid><memory unit='MiB'>128</memory><vcpu>2</vcpu><os><type>hvm</type></os>"
         "<devices><channel type='unix'><source mode='bind' path='" +
         channel.string() +
         "'/><target type='virtio' name='org.perfkvm.0'/></channel>"
         "<vsock model='virtio'><cid auto='no' address='42'/></vsock></devices></domain>";
}

std::string vsock_domain_xml(const std::string& name, const std::string& uuid, std::uint32_t cid) {
  return "<domain type='test'><name>" + name + "</name><uuid>" + uuid +
         "</uuid><memory unit='MiB'>128</memory><vcpu>1</vcpu><os><type>hvm</type></os>"
         "<devices><vsock model='virtio'><cid auto='no' address='" + std::to_string(cid) +
         "'/></vsock></devices></domain>";
}

}  // namespace

TEST_CASE("perfkvm-host list: channel, vsock CID and state of every test-driver domain") {
  const auto connection = open(fixture_uri());
  HostPaths paths;
  paths.libvirt_qemu_run_dir = temp_dir();
  const auto domains = list_domains(connection.get(), "org.perfkvm.0", paths);
  REQUIRE(domains.size() == 4);
  CHECK(domains[0].info.name == "db");  // sorted by name

  const auto& web1 = by_name(domains, "web1");
  CHECK(web1.state == "running");
  CHECK(web1.info.channel_path == "/run/perfkvm-test/web1.sock");  // not the qemu-ga channel
  CHECK_FALSE(web1.info.vsock_cid);
  REQUIRE(web1.threads);
  CHECK(web1.threads->threads.empty());  // the test driver has no QEMU process
  CHECK(web1.threads->problem.find("no QEMU process") != std::string::npos);

  const auto& web2 = by_name(domains, "web2");
  CHECK(web2.info.vsock_cid == 7u);
  CHECK(web2.info.vcpus == 2);
  CHECK_FALSE(web2.info.channel_path);

  const auto& db = by_name(domains, "db");
  CHECK(db.state == "shut off");
  CHECK_FALSE(db.threads);
  CHECK(db.info.channel_problem.find("type 'pty'") != std::string::npos);
  CHECK(db.info.vsock_auto);

  const auto& legacy = by_name(domains, "legacy");
  CHECK_FALSE(legacy.info.channel_path);
  CHECK(legacy.info.channel_problem.empty());

  const std::string table = format_listing_table(domains);
  CHECK(table.find(" web1     6f1a52a4-6c0e-4b7e-9d3c-0a1b2c3d4e01   running    2       "
                   "/run/perfkvm-test/web1.sock") != std::string::npos);
  CHECK(table.find("unusable [1]") != std::string::npos);
  CHECK(table.find("[1] domain 'db': channel 'org.perfkvm.0' has type 'pty'") != std::string::npos);

  const auto json = boost::json::parse(format_listing_json(domains));
  CHECK(json.as_array().size() == 4);
  CHECK(json.as_array()[3].at("vsock_cid").to_number<int>() == 7);
  CHECK(json.as_array()[2].at("channel").as_string() == "/run/perfkvm-test/web1.sock");
}

TEST_CASE("hostd's monitor follows a domain that starts after it, serves its channel, and lets go "
          "when it stops") {
  std::vector<std::string> stopped;  // outlives h: its teardown may still report stops
  MonitoredRegistry h;
  h.registry.on_stopped = [&](const DomainContext& d) { stopped.push_back(d.name); };
  h.monitor.start();
  h.io.run_for(200ms);
  REQUIRE(h.monitor.connected());
  const std::size_t before = h.registry.entries().size();  // the driver's own "test" domain

  const std::string uuid = "2d0c4a1e-55aa-4c3b-9e61-7f00000000aa";
  const auto channel = temp_dir() / "late.sock";
  ChannelSocketServer qemu_socket(channel);
  FakeQemuProcess qemu("late", uuid);
  const auto admin = open("test:///default");
  DomainPtr domain(virDomainCreateXML(admin.get(), domain_xml("late", uuid, channel).c_str(), 0));
  REQUIRE_MESSAGE(domain, libvirt_error());

  TestGuest guest(h.io, qemu_socket.accept(h.io));  // hostd connected to the new channel
  CHECK(h.registry.entries().size() == before + 1);
  CHECK(h.registry.find_by_cid(42)->name == "late");

  guest.send(protocol::Hello{kNonce, 1, 1, "perfkvm", "test"});
  const auto welcome = guest.receive_until<protocol::Welcome>();
  CHECK(welcome.domain_name == "late");
  CHECK(welcome.domain_uuid == uuid);
  protocol::Start start;
  start.nonce = kNonce;
  start.request_id = 1;
  start.events = {"task-clock", "cycles"};
  start.per_vcpu = true;
  guest.send(start);
  const auto started = guest.receive_until<protocol::Started>();
  CHECK(started.vcpus == std::vector<std::uint32_t>{0, 1});
  h.io.run_for(300ms);
  guest.send(protocol::Stop{kNonce, 1});
  const auto report = guest.receive_until<protocol::Report>();
  REQUIRE(report.vcpus.size() == 2);
  REQUIRE(report.vcpus[0].counts[0]);
  REQUIRE(report.vcpus[1].counts[0]);
  // The spinning "vCPU 1" of the fake QEMU against its sleeping vCPU 0 (~300 ms counted; the
  // absolute bound is loose because a loaded CI host gives the spinner less CPU).
  CHECK(report.vcpus[1].counts[0]->value > 5 * report.vcpus[0].counts[0]->value);
  CHECK(report.vcpus[1].counts[0]->value > 30'000'000);
  if (test::host_pmu().present()) {
    MESSAGE(test::host_pmu().describe() << ": cycles counted, spinning vCPU 1 >> vCPU 0");
    CHECK(report.columns[1].status == protocol::ColumnStatus::counted);
    REQUIRE(report.vcpus[0].counts[1]);
    REQUIRE(report.vcpus[1].counts[1]);
    CHECK(report.vcpus[1].counts[1]->value > 5 * report.vcpus[0].counts[1]->value);
    // At least 0.4 cycles per ns that vCPU 1 ran (any host CPU clock, loose for scaling).
    CHECK(static_cast<double>(report.vcpus[1].counts[1]->value) >=
          0.4 * static_cast<double>(report.vcpus[1].counts[0]->value));
  } else {
    MESSAGE(test::host_pmu().describe() << ": cycles <not supported>");
    CHECK(report.columns[1].status == protocol::ColumnStatus::not_supported);
    CHECK_FALSE(report.vcpus[1].counts[1]);
  }

  REQUIRE(virDomainDestroy(domain.get()) == 0);
  CHECK_THROWS_WITH_AS(guest.receive(2000ms), "test guest: the host closed the channel",
                       std::runtime_error);
  CHECK(h.registry.find(uuid) == nullptr);
  CHECK(stopped == std::vector<std::string>{"late"});
}

TEST_CASE("a vsock peer's CID is checked against libvirt when it connects, not only against "
          "past events") {
  MonitoredRegistry h;
  CHECK(h.monitor.domain_for_cid(77) == nullptr);  // not connected yet
  h.monitor.start();
  h.io.run_for(1100ms);  // past the minimum time between two re-listings
  REQUIRE(h.monitor.connected());

  const std::string uuid = "2d0c4a1e-55aa-4c3b-9e61-7f00000000bb";
  const auto admin = open("test:///default");
  // Started; its lifecycle event is not dispatched until the io_context runs again.
  DomainPtr domain(
      virDomainCreateXML(admin.get(), vsock_domain_xml("quick", uuid, 77).c_str(), 0));
  REQUIRE_MESSAGE(domain, libvirt_error());
  CHECK(h.registry.find_by_cid(77) == nullptr);
  const auto found = h.monitor.domain_for_cid(77);
  REQUIRE(found);
  CHECK(found->name == "quick");

  // Destroyed, the event again not dispatched: the CID is nobody's any more.
  REQUIRE(virDomainDestroy(domain.get()) == 0);
  CHECK(h.registry.find_by_cid(77) != nullptr);
  CHECK(h.monitor.domain_for_cid(77) == nullptr);
  CHECK(h.registry.find(uuid) == nullptr);
  CHECK(h.monitor.domain_for_cid(4242) == nullptr);
}

TEST_CASE("perfkvm-host stat counts a domain's vCPU threads from the host") {
  const auto connection = open(fixture_uri());
  FakeQemuProcess qemu("web1", "6f1a52a4-6c0e-4b7e-9d3c-0a1b2c3d4e01");
  HostPaths paths;
  paths.libvirt_qemu_run_dir = temp_dir();
  StatOptions options;
  options.domain = "web1";
  options.events = {"task-clock", "context-switches", "cycles"};
  options.duration_s = 0.3;
  options.format.per_vcpu = true;
  options.format.format = report::OutputFormat::json;
  std::ostringstream out;
  CHECK(run_stat(connection.get(), "org.perfkvm.0", paths, options, out) == 0);

  std::map<std::string, double> task_clock_ms;
  std::map<std::string, std::string> cycles_value;
  std::istringstream lines(out.str());
  for (std::string line; std::getline(lines, line);) {
    const auto object = boost::json::parse(line).as_object();
    const std::string event(object.at("event").as_string());
    const std::string vcpu(object.at("vcpu").as_string());
    if (event == "task-clock") {
      task_clock_ms[vcpu] = std::stod(std::string(object.at("counter-value").as_string()));
    }
    if (event == "cycles") cycles_value[vcpu] = std::string(object.at("counter-value").as_string());
  }
  REQUIRE(task_clock_ms.size() == 2);
  // ~300 ms of spinning; a loaded 2-core CI host may give the thread much less CPU, so the
  // firm check is the ratio to the sleeping vCPU, and the absolute one is loose.
  CHECK(task_clock_ms["1"] > 30);
  CHECK(task_clock_ms["1"] > 5 * task_clock_ms["0"]);
  REQUIRE(cycles_value.size() == 2);
  if (test::host_pmu().present()) {
    MESSAGE(test::host_pmu().describe() << ": perfkvm-host stat counts cycles per vCPU");
    const double busy = std::stod(cycles_value["1"]), idle = std::stod(cycles_value["0"]);
    CHECK(busy > 5 * idle);
    CHECK(busy >= 0.4e6 * task_clock_ms["1"]);  // >= 0.4 GHz while it ran
  } else {
    MESSAGE(test::host_pmu().describe() << ": perfkvm-host stat prints cycles <not supported>");
    CHECK(cycles_value["0"] == "<not supported>");
    CHECK(cycles_value["1"] == "<not supported>");
  }

  options.domain = "db";
  CHECK_THROWS_WITH_AS(run_stat(connection.get(), "org.perfkvm.0", paths, options, out),
                       "domain 'db' is not running", std::runtime_error);
  options.domain = "nosuch";
  CHECK_THROWS_WITH_AS(run_stat(connection.get(), "org.perfkvm.0", paths, options, out),
                       "domain 'nosuch' not found (perfkvm-host list shows the domains)",
                       std::runtime_error);
}
