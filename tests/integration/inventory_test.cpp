// Discovery and the admin CLI against libvirt's test driver (no daemon): perfkvm-host list on a
// fixture node, hostd's monitor following domains that start and stop, a whole guest session
// through monitor -> registry -> virtio-serial client -> session -> counters on the threads of
// a stand-in QEMU process, and perfkvm-host stat counting those threads. The monitor also
// when libvirt is unreachable or goes away (reconnecting with backoff, re-discovering), on
// lifecycle events, on lookups that fail, and on domain XML it cannot use.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <cstdio>
#include <filesystem>
#include <thread>
#include <fstream>
#include <functional>
#include <sstream>

#include "fake_qemu_process.hpp"
#include "host-agent/admin/domain_listing.hpp"
#include "host-agent/admin/stat_command.hpp"
#include "host-agent/inventory/domain_registry.hpp"
#include "host-agent/inventory/libvirt_monitor.hpp"
#include "host-agent/libvirt/event_loop.hpp"
#include "host-agent/session/event_table.hpp"
#include "test_data.hpp"
#include "test_driver_harness.hpp"
#include "test_guest.hpp"
#include "tests/common/host_pmu.hpp"

using namespace perfkvm;
using namespace perfkvm::host;
using namespace std::chrono_literals;
using perfkvm::test::FakeQemuProcess;
using perfkvm::test::TestGuest;
using perfkvm::test::ChannelSocketServer;
using perfkvm::test::DefaultDriverDomains;
using perfkvm::test::MonitoredRegistry;
using perfkvm::test::domain_xml;
using perfkvm::test::open;
using perfkvm::test::run_until;
using perfkvm::test::temp_dir;

namespace {

const std::string kNonce = "00112233445566778899aabbccddeeff";

std::string fixture_uri() {
  return "test://" + (perfkvm::test::data_dir() / "test-driver" / "node.xml").string();
}

const DomainListing& by_name(const std::vector<DomainListing>& list, const std::string& name) {
  for (const auto& d : list) {
    if (d.info.name == name) return d;
  }
  FAIL("no domain " << name);
  throw std::logic_error("unreachable");
}

std::string vsock_domain_xml(const std::string& name, const std::string& uuid, std::uint32_t cid) {
  return "<domain type='test'><name>" + name + "</name><uuid>" + uuid +
         "</uuid><memory unit='MiB'>128</memory><vcpu>1</vcpu><os><type>hvm</type></os>"
         "<devices><vsock model='virtio'><cid auto='no' address='" + std::to_string(cid) +
         "'/></vsock></devices></domain>";
}

// What perfkvm's log (stderr) says while it lives; echoed to the real stderr at the end.
class StderrCapture {
 public:
  StderrCapture() {
    path_ = temp_dir() / ("stderr-" + std::to_string(++count_) + ".log");
    const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    std::fflush(stderr);
    saved_ = ::dup(STDERR_FILENO);
    REQUIRE(saved_ >= 0);
    REQUIRE(::dup2(fd, STDERR_FILENO) == STDERR_FILENO);
    ::close(fd);
  }
  ~StderrCapture() {
    std::fflush(stderr);
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    std::fputs(text().c_str(), stderr);
    std::filesystem::remove(path_);
  }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;

  std::string text() const {
    std::fflush(stderr);
    std::ifstream in(path_);
    std::ostringstream all;
    all << in.rdbuf();
    return all.str();
  }
  // The log lines containing `needle`, in order.
  std::vector<std::string> lines(const std::string& needle) const {
    std::vector<std::string> found;
    std::istringstream all(text());
    for (std::string line; std::getline(all, line);) {
      if (line.find(needle) != std::string::npos) found.push_back(line);
    }
    return found;
  }

 private:
  static inline int count_ = 0;
  std::filesystem::path path_;
  int saved_ = -1;
};

// A log line's "HH:MM:SS.mmm" time of day, in ms.
long long log_time_ms(const std::string& line) {
  int h = 0, m = 0, sec = 0, ms = 0;
  REQUIRE_MESSAGE(std::sscanf(line.c_str(), "%d:%d:%d.%d", &h, &m, &sec, &ms) == 4,
                  "no time in log line: " << line);
  return ((h * 60LL + m) * 60 + sec) * 1000 + ms;
}

long long ms_between(const std::string& earlier, const std::string& later) {
  long long gap = log_time_ms(later) - log_time_ms(earlier);
  if (gap < 0) gap += 86'400'000;  // across midnight
  return gap;
}

std::string plain_domain_xml(const std::string& name, const std::string& uuid,
                             const std::string& vcpu = "<vcpu>1</vcpu>") {
  return "<domain type='test'><name>" + name + "</name><uuid>" + uuid +
         "</uuid><memory unit='MiB'>128</memory>" + vcpu +
         "<os><type>hvm</type></os></domain>";
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
  // Status as the open sees it; values need the probe to have counted cycles too.
  if (test::host_pmu().event("cycles").opens) {
    MESSAGE(test::host_pmu().describe() << ": cycles counted, spinning vCPU 1 >> vCPU 0");
    REQUIRE_MESSAGE(test::host_pmu().present(), "cycles open but the probe counted none");
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

  // Confirmed: asked again within kCidConfirmation, libvirt is not asked (a guest connecting
  // in a loop costs one lookup a second); lost, nobody is served, at once.
  CHECK(h.monitor.domain_for_cid(77) == found);
  LibvirtMonitor::on_close(nullptr, VIR_CONNECT_CLOSE_REASON_EOF, &h.monitor);
  CHECK(h.monitor.domain_for_cid(77) == nullptr);
  h.io.run_for(300ms);  // reconnects (the test driver is always there) and re-discovers
  REQUIRE(h.monitor.connected());

  // Destroyed, the event again not dispatched: once the confirmation is older than a second,
  // the CID is nobody's any more.
  REQUIRE(virDomainDestroy(domain.get()) == 0);
  std::this_thread::sleep_for(LibvirtMonitor::kCidConfirmation + 50ms);
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
  if (test::host_pmu().event("cycles").opens) {
    MESSAGE(test::host_pmu().describe() << ": perfkvm-host stat counts cycles per vCPU");
    REQUIRE_MESSAGE(test::host_pmu().present(), "cycles open but the probe counted none");
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

TEST_CASE("hostd's monitor retries an unreachable libvirt with doubling delays, then discovers") {
  const auto dir = temp_dir() / "unreachable";
  std::filesystem::create_directories(dir);
  const auto node = dir / "node.xml";
  std::filesystem::remove(node);
  const std::string uri = "test://" + node.string();  // no such file yet: connecting fails
  MonitoredRegistry h(uri);
  StderrCapture log;
  const std::string refused = "cannot connect to libvirt at " + uri;
  h.monitor.start();
  REQUIRE(run_until(h.io, [&] { return log.lines(refused).size() >= 2; }, 3s));
  CHECK_FALSE(h.monitor.connected());
  CHECK(h.monitor.connects() == 0);
  CHECK(h.registry.entries().empty());

  std::filesystem::copy_file(perfkvm::test::data_dir() / "test-driver" / "node.xml", node);
  REQUIRE(run_until(h.io, [&] { return h.monitor.connected(); }, 3s));
  CHECK(h.monitor.connects() == 1);
  const auto failures = log.lines(refused);
  const auto connected = log.lines("connected to libvirt at " + uri);
  REQUIRE(failures.size() == 2);
  REQUIRE(connected.size() == 1);
  CHECK(failures[0].find("(retrying; hostd needs read access to libvirt)") != std::string::npos);
  // 500 ms, then 1 s (log times are in whole ms: a little slack).
  CHECK(ms_between(failures[0], failures[1]) >= 495);
  CHECK(ms_between(failures[1], connected[0]) >= 995);
  // Discovered: the fixture's running domains, not the shut-off one.
  CHECK(h.registry.entries().size() == 3);
  CHECK(h.registry.find("6f1a52a4-6c0e-4b7e-9d3c-0a1b2c3d4e01") != nullptr);  // web1
  CHECK(h.registry.find("6f1a52a4-6c0e-4b7e-9d3c-0a1b2c3d4e03") == nullptr);  // db: shut off
  REQUIRE(h.registry.find_by_cid(7));
  CHECK(h.registry.find_by_cid(7)->name == "web2");

  // Lost again: the delays start over at 500 ms (not at the 2 s they had grown to).
  std::filesystem::remove(node);
  LibvirtMonitor::on_close(nullptr, VIR_CONNECT_CLOSE_REASON_KEEPALIVE, &h.monitor);
  REQUIRE(run_until(h.io, [&] { return log.lines(refused).size() >= 4; }, 3s));
  const auto again = log.lines(refused);
  CHECK(log.lines("lost the connection to libvirt (keepalive timeout)").size() == 1);
  CHECK(ms_between(connected[0], again[2]) < 100);  // at once
  CHECK(ms_between(again[2], again[3]) >= 495);
  CHECK(ms_between(again[2], again[3]) < 1900);
}

TEST_CASE("hostd's monitor: when libvirtd goes away it keeps serving, retries with doubling "
          "delays, and re-discovers what changed meanwhile") {
  const auto dir = temp_dir() / "restart";
  std::filesystem::create_directories(dir);
  const auto node = dir / "node.xml";
  std::filesystem::remove(node);
  std::filesystem::copy_file(perfkvm::test::data_dir() / "test-driver" / "node.xml", node);
  const std::string uri = "test://" + node.string();
  const std::string web1 = "6f1a52a4-6c0e-4b7e-9d3c-0a1b2c3d4e01";
  std::vector<std::string> stopped;  // outlives h
  MonitoredRegistry h(uri);
  h.registry.on_stopped = [&](const DomainContext& d) { stopped.push_back(d.name); };
  h.monitor.start();
  REQUIRE(run_until(h.io, [&] { return h.monitor.connected(); }, 2s));
  REQUIRE(h.registry.entries().size() == 3);
  const auto web1_context = h.registry.find(web1)->context;
  REQUIRE(h.monitor.domain_for_cid(7));

  // libvirtd stops (its state file with it, so that reconnecting fails until it is back).
  std::filesystem::remove(node);
  StderrCapture log;
  LibvirtMonitor::on_close(nullptr, VIR_CONNECT_CLOSE_REASON_EOF, &h.monitor);
  const std::string refused = "cannot connect to libvirt at " + uri;
  REQUIRE(run_until(h.io, [&] { return log.lines(refused).size() >= 2; }, 3s));
  CHECK(log.lines("lost the connection to libvirt (libvirtd closed the connection): "
                  "reconnecting; running domains stay served")
            .size() == 1);
  CHECK_FALSE(h.monitor.connected());
  // Still served while libvirt cannot say otherwise; but no vsock peer is matched to a domain.
  CHECK(h.registry.entries().size() == 3);
  CHECK(stopped.empty());
  CHECK(h.monitor.domain_for_cid(7) == nullptr);

  std::filesystem::copy_file(perfkvm::test::data_dir() / "test-driver" / "node-restarted.xml",
                             node);
  REQUIRE(run_until(h.io, [&] { return h.monitor.connected(); }, 3s));
  CHECK(h.monitor.connects() == 2);
  const auto failures = log.lines(refused);
  const auto connected = log.lines("connected to libvirt at " + uri);
  REQUIRE(failures.size() == 2);
  REQUIRE(connected.size() == 1);
  CHECK(ms_between(failures[0], failures[1]) >= 495);
  CHECK(ms_between(failures[1], connected[0]) >= 995);
  // web1 was served throughout (the same context: its sessions were never cut); web2 went
  // away meanwhile, web3 came.
  REQUIRE(h.registry.find(web1));
  CHECK(h.registry.find(web1)->context == web1_context);
  CHECK(stopped == std::vector<std::string>{"web2"});
  CHECK(h.registry.entries().size() == 3);
  CHECK(h.monitor.domain_for_cid(7) == nullptr);
  const auto web3 = h.monitor.domain_for_cid(8);
  REQUIRE(web3);
  CHECK(web3->name == "web3");
}

TEST_CASE("hostd's monitor: only libvirt's word that a domain is gone or inactive stops it") {
  DefaultDriverDomains domains;
  MonitoredRegistry h;
  h.monitor.start();
  REQUIRE(run_until(h.io, [&] { return h.monitor.connected(); }, 2s));

  const std::string transient = "2d0c4a1e-55aa-4c3b-9e61-7f00000000c1";
  const std::string persistent = "2d0c4a1e-55aa-4c3b-9e61-7f00000000c2";
  auto t = domains.create(plain_domain_xml("gone", transient), transient);
  auto p = domains.create(plain_domain_xml("inactive", persistent), persistent);
  DomainPtr defined(
      virDomainDefineXML(domains.admin.get(), plain_domain_xml("inactive", persistent).c_str()));
  REQUIRE_MESSAGE(defined, libvirt_error());
  REQUIRE(run_until(h.io, [&] { return h.registry.find(transient) && h.registry.find(persistent); },
                    2s));

  // An entry libvirt cannot look up for another reason than "no such domain" (here: a uuid
  // libvirt refuses, VIR_ERR_INVALID_ARG) stays served: its running sessions go on. But a new
  // vsock peer with its CID is not: without libvirt's confirmation, nobody gets a CID.
  DomainXmlInfo odd;
  odd.name = "odd";
  odd.uuid = "not-a-uuid";
  odd.vcpus = odd.max_vcpus = 1;
  odd.vsock = true;
  odd.vsock_cid = 93;
  h.registry.domain_running(odd);
  h.monitor.refresh(odd.uuid);
  CHECK(h.registry.find(odd.uuid) != nullptr);
  CHECK(h.monitor.domain_for_cid(93) == nullptr);
  CHECK(h.registry.find(odd.uuid) != nullptr);

  // Destroyed; their STOPPED events are not dispatched before the lookups below.
  REQUIRE(virDomainDestroy(t.get()) == 0);  // transient: gone (VIR_ERR_NO_DOMAIN)
  REQUIRE(virDomainDestroy(p.get()) == 0);  // persistent: still defined, inactive
  h.monitor.refresh(transient);
  CHECK(h.registry.find(transient) == nullptr);
  h.monitor.refresh(persistent);
  CHECK(h.registry.find(persistent) == nullptr);
  h.io.run_for(50ms);
  CHECK(h.registry.find(odd.uuid) != nullptr);
}

TEST_CASE("hostd's monitor: a listing that fails changes nothing; the next one catches up") {
  DefaultDriverDomains domains;
  MonitoredRegistry h;
  h.monitor.start();
  REQUIRE(run_until(h.io, [&] { return h.monitor.connected(); }, 2s));
  const std::string kept = "2d0c4a1e-55aa-4c3b-9e61-7f00000000d1";
  auto k = domains.create(plain_domain_xml("kept", kept), kept);
  REQUIRE(run_until(h.io, [&] { return h.registry.find(kept) != nullptr; }, 2s));

  h.monitor.set_list_domains_for_testing(
      [](virConnectPtr, virDomainPtr**, unsigned int) { return -1; });
  h.io.run_for(1100ms);  // past the minimum time between two listings
  // A vsock peer of a CID no domain has makes the monitor list again, and the listing fails:
  // "no answer" is not "no domains", so the running domain stays served.
  CHECK(h.monitor.domain_for_cid(4242) == nullptr);
  CHECK(h.registry.find(kept) != nullptr);
  CHECK(h.monitor.connected());

  // The next listing that works catches up with a domain whose start event is not yet in.
  h.monitor.set_list_domains_for_testing(virConnectListAllDomains);
  std::this_thread::sleep_for(1100ms);  // without running the io_context: no event dispatched
  const std::string late = "2d0c4a1e-55aa-4c3b-9e61-7f00000000d2";
  auto l = domains.create(vsock_domain_xml("late-vsock", late, 79), late);
  const auto found = h.monitor.domain_for_cid(79);
  REQUIRE(found);
  CHECK(found->name == "late-vsock");
  CHECK(h.registry.find(kept) != nullptr);
}

TEST_CASE("hostd's monitor re-reads a domain on RESUMED, DEFINED and UNDEFINED; SUSPENDED keeps "
          "it served, paused (its sessions' leases held) until RESUMED") {
  DefaultDriverDomains domains;
  MonitoredRegistry h;
  h.monitor.start();
  REQUIRE(run_until(h.io, [&] { return h.monitor.connected(); }, 2s));
  const std::string uuid = "2d0c4a1e-55aa-4c3b-9e61-7f00000000d1";
  const std::string xml = plain_domain_xml("events", uuid, "<vcpu current='2'>4</vcpu>");
  auto domain = domains.create(xml, uuid);
  REQUIRE(run_until(h.io, [&] { return h.registry.find(uuid) != nullptr; }, 2s));
  auto vcpus = [&] {
    const auto* entry = h.registry.find(uuid);
    REQUIRE(entry);
    CHECK(entry->context->vcpus == entry->info.vcpus);
    return entry->info.vcpus;
  };
  CHECK(vcpus() == 2);
  // The live vCPU count changes with no event of its own: what the registry holds changes
  // only when an event makes the monitor read the live XML again.
  auto set_vcpus_quietly = [&](unsigned count) {
    REQUIRE(virDomainSetVcpusFlags(domain.get(), count, VIR_DOMAIN_AFFECT_LIVE) == 0);
    h.io.run_for(100ms);
  };

  auto paused = [&] {
    const auto* entry = h.registry.find(uuid);
    REQUIRE(entry);
    return entry->context->pause.paused;
  };
  CHECK_FALSE(paused());
  REQUIRE(virDomainSuspend(domain.get()) == 0);
  CHECK(run_until(h.io, paused, 1s));
  CHECK(vcpus() == 2);  // paused, still served
  set_vcpus_quietly(3);
  CHECK(vcpus() == 2);
  CHECK(paused());
  const auto resumed = std::chrono::steady_clock::now();
  REQUIRE(virDomainResume(domain.get()) == 0);
  CHECK(run_until(h.io, [&] { return vcpus() == 3; }, 1s));
  CHECK_FALSE(paused());
  CHECK(h.registry.find(uuid)->context->pause.resumed_at >= resumed);

  set_vcpus_quietly(4);
  CHECK(vcpus() == 3);
  // Defined while running: it becomes persistent and stays served.
  DomainPtr defined(virDomainDefineXML(domains.admin.get(), xml.c_str()));
  REQUIRE_MESSAGE(defined, libvirt_error());
  CHECK(run_until(h.io, [&] { return vcpus() == 4; }, 1s));

  set_vcpus_quietly(1);
  CHECK(vcpus() == 4);
  // Undefined while running: transient now, still running, still served.
  REQUIRE(virDomainUndefine(domain.get()) == 0);
  CHECK(run_until(h.io, [&] { return vcpus() == 1; }, 1s));
  REQUIRE(virDomainIsActive(domain.get()) == 1);

  REQUIRE(virDomainDestroy(domain.get()) == 0);
  CHECK(run_until(h.io, [&] { return h.registry.find(uuid) == nullptr; }, 1s));
}

TEST_CASE("hostd's monitor skips a domain whose XML it cannot use and serves the others") {
  DefaultDriverDomains domains;
  // libvirt accepts a tab in a name; perfkvm refuses it (names end up in paths and logs).
  const std::string early = "2d0c4a1e-55aa-4c3b-9e61-7f00000000e1";
  const std::string late = "2d0c4a1e-55aa-4c3b-9e61-7f00000000e2";
  const std::string good = "2d0c4a1e-55aa-4c3b-9e61-7f00000000e3";
  domains.create(plain_domain_xml("early\tbad", early), early);
  MonitoredRegistry h;
  StderrCapture log;
  h.monitor.start();
  REQUIRE(run_until(h.io, [&] { return h.monitor.connected(); }, 2s));
  h.io.run_for(50ms);
  // Discovery went past it: the driver's own domain is served.
  CHECK(h.registry.find(early) == nullptr);
  bool test_domain = false;
  for (const auto& [uuid, entry] : h.registry.entries()) test_domain |= entry.info.name == "test";
  CHECK(test_domain);

  domains.create(plain_domain_xml("late\tbad", late), late);  // found by its STARTED event
  domains.create(plain_domain_xml("good", good), good);
  REQUIRE(run_until(h.io, [&] { return h.registry.find(good) != nullptr; }, 2s));
  CHECK(h.registry.find(late) == nullptr);
  const auto refused = log.lines("': cannot use its XML: ");
  REQUIRE(refused.size() == 2);
  CHECK(refused[0].find("domain 'early\tbad': cannot use its XML: ") != std::string::npos);
  CHECK(refused[0].find("contains '/' or a control character") != std::string::npos);
  CHECK(refused[1].find("domain 'late\tbad'") != std::string::npos);
}

TEST_CASE("perfkvm-host stat -i prints each interval's counts; --vcpu counts only those vCPUs") {
  const auto connection = open(fixture_uri());
  FakeQemuProcess qemu("web1", "6f1a52a4-6c0e-4b7e-9d3c-0a1b2c3d4e01");
  HostPaths paths;
  paths.libvirt_qemu_run_dir = temp_dir();
  StatOptions options;
  options.domain = "web1";
  options.events = {"task-clock"};
  options.interval_ms = 100;
  options.duration_s = 0.35;
  options.vcpus = std::vector<std::uint32_t>{1};
  options.format.per_vcpu = true;
  options.format.format = report::OutputFormat::json;
  std::ostringstream out;
  CHECK(run_stat(connection.get(), "org.perfkvm.0", paths, options, out) == 0);

  std::vector<double> interval_at, interval_ms;  // per interval line: its time, its task-clock
  std::vector<double> final_ms;
  std::size_t intervals_run = 0;
  std::istringstream lines(out.str());
  for (std::string line; std::getline(lines, line);) {
    CAPTURE(line);
    const auto object = boost::json::parse(line).as_object();
    CHECK(object.at("event").as_string() == "task-clock");
    CHECK(object.at("vcpu").as_string() == "1");  // never vCPU 0
    const std::string value(object.at("counter-value").as_string());
    // perf's word for an interval in which the counter did not run (a starved vCPU thread on
    // a loaded host): no time, no count.
    const bool ran = value != "<not counted>";
    const double ms = ran ? std::stod(value) : 0;
    if (object.contains("interval")) {
      CHECK(final_ms.empty());  // intervals come before the final report
      interval_at.push_back(object.at("interval").to_number<double>());
      interval_ms.push_back(ms);
      intervals_run += ran ? 1 : 0;
    } else {
      REQUIRE(ran);
      final_ms.push_back(ms);
    }
  }
  MESSAGE("intervals at " << [&] {
    std::string text;
    for (const double at : interval_at) text += std::to_string(at) + " ";
    return text;
  }());
  // At 100, 200 and 300 ms; a loaded host may make the last one miss the 350 ms end.
  REQUIRE(interval_at.size() >= 2);
  CHECK(interval_at.size() <= 3);
  REQUIRE(final_ms.size() == 1);
  double sum = 0;
  for (std::size_t i = 0; i < interval_at.size(); ++i) {
    CHECK(interval_at[i] >= 0.1 * static_cast<double>(i + 1) - 0.001);
    if (i > 0) CHECK(interval_at[i] > interval_at[i - 1]);
    CHECK(interval_ms[i] <= 1.1 * 1000 * (interval_at[i] - (i ? interval_at[i - 1] : 0)));
    sum += interval_ms[i];
  }
  // Each line is the interval's difference, not the total so far: they add up to at most the
  // final count. vCPU 1 spins: it ran during the intervals.
  CHECK(sum <= final_ms[0] + 0.001);
  CHECK(intervals_run >= 1);
  CHECK(sum > 0);

  options.vcpus = std::vector<std::uint32_t>{0, 5};
  CHECK_THROWS_WITH_AS(run_stat(connection.get(), "org.perfkvm.0", paths, options, out),
                       "domain 'web1' has no vCPU 5 (it has 2 vCPU threads)", std::runtime_error);
}

TEST_CASE("hostd follows a domain's perfkvm policy live: set, changed, broken (denied) and "
          "removed through libvirt's metadata API, each applied to the guest's session") {
  MonitoredRegistry h;
  h.monitor.start();
  h.io.run_for(200ms);
  REQUIRE(h.monitor.connected());
  DefaultDriverDomains domains;
  const std::string uuid = "2d0c4a1e-55aa-4c3b-9e61-7f00000000c1";
  const auto channel = temp_dir() / "policy.sock";
  ChannelSocketServer qemu_socket(channel);
  FakeQemuProcess qemu("policy-live", uuid);
  DomainPtr domain = domains.create(domain_xml("policy-live", uuid, channel), uuid);
  TestGuest guest(h.io, qemu_socket.accept(h.io));
  const auto* entry = h.registry.find(uuid);
  REQUIRE(entry != nullptr);
  CHECK(entry->context->policy == DomainPolicy{});

  const auto set_metadata = [&](const char* xml) {
    REQUIRE_MESSAGE(virDomainSetMetadata(domain.get(), VIR_DOMAIN_METADATA_ELEMENT, xml,
                                         xml ? "perfkvm" : nullptr,
                                         "https://perfkvm.org/xmlns/policy/1",
                                         VIR_DOMAIN_AFFECT_LIVE) == 0,
                    libvirt_error());
  };
  const auto policy_is = [&](auto check) {
    return run_until(h.io, [&] { return check(h.registry.find(uuid)->context->policy); }, 3000ms);
  };

  // A running request that the new policy forbids ends at once.
  guest.send(protocol::Hello{kNonce, 1, 1, "perfkvm", "test"});
  guest.receive_until<protocol::Welcome>();
  protocol::Start start;
  start.nonce = kNonce;
  start.request_id = 1;
  start.events = {"task-clock", "context-switches"};
  guest.send(start);
  guest.receive_until<protocol::Started>();
  set_metadata("<policy max-sessions='2'><events><event name='task-clock'/></events></policy>");
  CHECK(policy_is([](const DomainPolicy& p) { return p.max_sessions == 2u; }));
  const auto ended = guest.receive_until<protocol::Error>();
  CHECK(ended.code == protocol::ErrorCode::not_permitted);
  CHECK(ended.message.find("policy rule 'events' does not allow event 'context-switches'") !=
        std::string::npos);
  CHECK(guest.receive_until<protocol::Report>().reason == protocol::EndReason::error);

  // An element hostd cannot read denies the guest's requests (and says why in the log).
  set_metadata("<policy max-sessions='lots'/>");
  CHECK(policy_is([](const DomainPolicy& p) { return p.guest_requests == GuestRequests::deny; }));
  CHECK(h.registry.find(uuid)->policy.problem.find("max-sessions") != std::string::npos);
  start.request_id = 2;
  start.events = {"task-clock"};
  guest.send(start);
  CHECK(guest.receive_until<protocol::Error>().message.find("'guest-requests' is deny") !=
        std::string::npos);

  // Removed: the host's defaults again, and the guest counts.
  set_metadata(nullptr);
  CHECK(policy_is([](const DomainPolicy& p) { return p == DomainPolicy{}; }));
  CHECK(h.registry.find(uuid)->policy.problem.empty());
  start.request_id = 3;
  guest.send(start);
  CHECK(guest.receive_until<protocol::Started>().request_id == 3);
}
