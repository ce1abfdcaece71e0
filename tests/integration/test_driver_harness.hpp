// What the integration tests that run hostd's discovery against libvirt's test driver share:
// a connection, a scratch directory, QEMU's side of a channel socket, the monitor and registry
// on one io_context, domains created on test:///default and removed afterwards.
#pragma once

#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "host-agent/inventory/domain_registry.hpp"
#include "host-agent/inventory/libvirt_monitor.hpp"
#include "host-agent/libvirt/event_loop.hpp"
#include "host-agent/session/event_table.hpp"
#include "run_until.hpp"
#include "util/unique_fd.hpp"

namespace perfkvm::test {

using namespace perfkvm::host;
using namespace std::chrono_literals;

inline ConnectPtr open(const std::string& uri) {
  silence_libvirt_default_errors();
  ConnectPtr connection(virConnectOpen(uri.c_str()));
  REQUIRE_MESSAGE(connection, "cannot open " << uri << ": " << libvirt_error());
  return connection;
}

inline std::filesystem::path temp_dir() {
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
  explicit MonitoredRegistry(const std::string& uri = "test:///default")
      : monitor{io.get_executor(), uri, "org.perfkvm.0", registry} {
    silence_libvirt_default_errors();  // as perfkvm-hostd does: it logs libvirt's errors itself
  }

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
  LibvirtMonitor monitor;

  ~MonitoredRegistry() {
    monitor.stop();
    registry.stop_all();
    io.run_for(std::chrono::milliseconds(50));
  }
};

inline std::string domain_xml(const std::string& name, const std::string& uuid,
                       const std::filesystem::path& channel) {
  return "<domain type='test'><name>" + name + "</name><uuid>" + uuid +
         "</uuid><memory unit='MiB'>128</memory><vcpu>2</vcpu><os><type>hvm</type></os>"
         "<devices><channel type='unix'><source mode='bind' path='" +
         channel.string() +
         "'/><target type='virtio' name='org.perfkvm.0'/></channel>"
         "<vsock model='virtio'><cid auto='no' address='42'/></vsock></devices></domain>";
}

// Domains this test creates on test:///default (shared by every connection of the process):
// gone at the end of the test whatever happened.
struct DefaultDriverDomains {
  ConnectPtr admin = open("test:///default");
  std::vector<std::string> uuids;

  DomainPtr create(const std::string& xml, const std::string& uuid) {
    uuids.push_back(uuid);
    DomainPtr domain(virDomainCreateXML(admin.get(), xml.c_str(), 0));
    REQUIRE_MESSAGE(domain, libvirt_error());
    return domain;
  }
  ~DefaultDriverDomains() {
    for (const auto& uuid : uuids) {
      DomainPtr domain(virDomainLookupByUUIDString(admin.get(), uuid.c_str()));
      if (!domain) continue;
      if (virDomainIsActive(domain.get()) == 1) virDomainDestroy(domain.get());
      if (virDomainIsPersistent(domain.get()) == 1) virDomainUndefine(domain.get());
    }
  }
};

}  // namespace perfkvm::test
