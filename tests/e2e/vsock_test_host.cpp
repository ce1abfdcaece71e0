// The host side of perfkvm over AF_VSOCK, run *inside* the e2e guest, where vsock loopback
// (CID 1) exists although the real host has no /dev/vhost-vsock. It is hostd's own vsock code
// (StreamListener::open_vsock, vsock_peer_cid, ChannelConnection, the counters) with one
// thing replaced: the CID -> domain lookup, which hostd does through libvirt, is a test
// mapping of one CID to a "domain" whose vCPU threads are two threads of this process, named
// as QEMU names them ("CPU 0/TCG" sleeps, "CPU 1/TCG" spins) and found by the real /proc scan.
//
// usage: vsock_test_host [--port N] [--cid C] [--seconds S] [--idle 1]
//   Serves until SIGTERM/SIGINT or S seconds (default 120). Prints one "listening" line on
//   stdout when ready; hostd's log lines (sessions, requests) go to stderr. --idle 1: "CPU 1"
//   sleeps too (an instance that only refuses must not take a whole guest vCPU: two spinners
//   on the 2-vCPU TCG guest starve it, and its kernel reports soft lockups).
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "host-agent/session/event_table.hpp"
#include "host-agent/threads/vcpu_threads.hpp"
#include "host-agent/transport/vsock_listener.hpp"
#include "util/log.hpp"

using namespace perfkvm;
using namespace perfkvm::host;

namespace {

struct Arguments {
  std::uint32_t port = kDefaultVsockPort;
  std::uint32_t cid = 1;  // VMADDR_CID_LOCAL: the peer CID of a loopback connection
  unsigned seconds = 120;
  bool idle = false;
};

std::uint32_t number(std::string_view flag, const char* text) {
  char* end = nullptr;
  const unsigned long value = std::strtoul(text, &end, 10);
  if (end == text || *end != '\0' || value > 0xFFFFFFFFul) {
    std::cerr << "vsock_test_host: " << flag << ": not a number: " << text << "\n";
    std::exit(2);
  }
  return static_cast<std::uint32_t>(value);
}

Arguments parse(int argc, char** argv) {
  Arguments arguments;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (i + 1 >= argc) {
      std::cerr << "vsock_test_host: " << flag << " needs a value\n";
      std::exit(2);
    }
    const char* value = argv[++i];
    if (flag == "--port") {
      arguments.port = number(flag, value);
    } else if (flag == "--cid") {
      arguments.cid = number(flag, value);
    } else if (flag == "--seconds") {
      arguments.seconds = number(flag, value);
    } else if (flag == "--idle") {
      arguments.idle = number(flag, value) != 0;
    } else {
      std::cerr << "usage: vsock_test_host [--port N] [--cid C] [--seconds S] [--idle 1]\n";
      std::exit(2);
    }
  }
  return arguments;
}

// Two threads named like QEMU's TCG vCPU threads; "CPU 1/TCG" spins (unless idle), "CPU 0/TCG"
// idles.
class StandInVcpus {
 public:
  explicit StandInVcpus(bool idle) {
    for (int index = 0; index < 2; ++index) {
      threads_.emplace_back([this, index, idle] {
        const std::string name = "CPU " + std::to_string(index) + "/TCG";
        pthread_setname_np(pthread_self(), name.c_str());
        ++named_;
        while (!quit_) {
          if (index == 1 && !idle) {
            for (unsigned spin = 0; spin < 100000; ++spin) sink_ = sink_ + spin;
          } else {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
          }
        }
      });
    }
    while (named_ < 2) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~StandInVcpus() {
    quit_ = true;
    for (auto& thread : threads_) thread.join();
  }

 private:
  std::vector<std::thread> threads_;
  std::atomic<int> named_{0};
  std::atomic<bool> quit_{false};
  static inline std::atomic<unsigned> sink_{0};  // keeps the spin loop from being optimised away
};

}  // namespace

int main(int argc, char** argv) {
  const Arguments arguments = parse(argc, argv);
  log::set_program("vsock_test_host");
  StandInVcpus vcpus(arguments.idle);

  const HostPaths paths;
  auto domain = std::make_shared<DomainContext>();
  domain->name = "vsock-loopback";
  domain->uuid = "e2e00000-0000-4000-8000-000000000001";
  domain->vcpus = 2;
  domain->resolve_threads = [paths] {
    const VcpuThreadScan scan = scan_vcpu_threads(paths, ::getpid());
    VcpuResolution resolution;
    resolution.qemu_pid = ::getpid();
    resolution.threads = scan.threads;
    resolution.source = scan.threads.empty() ? "" : "comm";
    resolution.problem = scan.problem;
    return resolution;
  };

  boost::asio::io_context io;
  const SessionConfig config;
  const auto event_table = probe_event_table();
  std::shared_ptr<StreamListener> listener;
  try {
    listener = std::make_shared<StreamListener>(
        StreamListener::open_vsock(io.get_executor(), arguments.port),
        &StreamListener::vsock_peer_cid,
        [&](std::uint32_t cid) { return cid == arguments.cid ? domain : nullptr; }, config,
        event_table);
  } catch (const boost::system::system_error& error) {
    std::cerr << "vsock_test_host: cannot listen on vsock port " << arguments.port << ": "
              << error.what() << "\n";
    return 1;
  }
  listener->start();

  const auto threads = scan_vcpu_threads(paths, ::getpid()).threads;
  std::cout << "vsock_test_host: listening on vsock port " << arguments.port << ", CID "
            << arguments.cid << " -> domain '" << domain->name << "' with " << threads.size()
            << " vCPU threads" << std::endl;

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (!ec) io.stop();
  });
  io.run_for(std::chrono::seconds(arguments.seconds));
  listener->stop();
  io.restart();
  io.run_for(std::chrono::milliseconds(100));  // let the connections close their counters
  std::cout << "vsock_test_host: stopped" << std::endl;
  return 0;
}
