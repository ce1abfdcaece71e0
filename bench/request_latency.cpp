// Request latency: how long a guest waits from sending `start` to reading `started`, over a
// real channel: a ChannelConnection on its own io_context thread (as hostd runs it, and as
// bench/sampling_cost.cpp does) serving one end of a unix socketpair, the guest on this thread
// writing and reading the other end. Each request opens E counters on each of K threads named
// "CPU n/KVM" (perf_event_open is most of the work) and is stopped before the next one.
// The floor, measured in the same run and interleaved with the requests so that both see the
// same load: the bare round trip of a small frame over the same kind of socket pair, echoed
// by a plain thread blocked in read(2). Also interleaved, for the note: a keepalive echoed by
// the same ChannelConnection (the protocol path without counters).
//
// While each request counts, one `read` (protocol 2, what perfkvm ctl mark sends): its round
// trip, and how long after the guest wrote it the host took the snapshot (the answer's
// host_time_ns against CLOCK_REALTIME at the write: one machine, one clock), whose p99 has a
// target: within 1 ms of the request reaching the host, the socket's own transit included.
//
//   request_latency [--requests N] [--warmup W] [--json FILE]
// prints one line per figure (median and p99 of N requests, after W not counted) and appends
// them as JSON lines to FILE (the format of bench/sampling_cost.cpp; scripts/bench.sh makes
// the table). The issue sets no target for these: "report only" (see bench/README.md).
// The channel's start throttle (--max-starts, 20/s by default) is raised out of the way: it is
// a policy that makes fast starts wait on purpose, not latency of the engine.
#include <pthread.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench/figures.hpp"
#include "host-agent/session/channel_connection.hpp"
#include "host-agent/session/event_table.hpp"
#include "protocol/codec.hpp"
#include "util/log.hpp"
#include "util/unique_fd.hpp"

namespace {

using namespace std::chrono_literals;
using namespace perfkvm;
using Clock = std::chrono::steady_clock;

const std::string kNonce = "c4d2e3f5a6b7089988776655443322bb";
const std::vector<std::string> kEvents = {"task-clock", "context-switches", "cpu-migrations",
                                          "page-faults"};
constexpr std::size_t kThreads = 2;




// Threads standing in for a guest's vCPUs (mostly idle, as most guests are).
class Vcpus {
 public:
  explicit Vcpus(std::size_t count) : tids_(count) {
    for (std::size_t i = 0; i < count; ++i) {
      threads_.emplace_back([this, i] {
        const std::string name = "CPU " + std::to_string(i) + "/KVM";
        pthread_setname_np(pthread_self(), name.c_str());
        tids_[i] = static_cast<pid_t>(::syscall(SYS_gettid));
        while (!quit_) std::this_thread::sleep_for(2ms);
      });
    }
    for (auto& tid : tids_) {
      while (tid.load() == 0) std::this_thread::sleep_for(1ms);
    }
  }
  ~Vcpus() {
    quit_ = true;
    for (auto& thread : threads_) thread.join();
  }
  host::VcpuResolution resolution() const {
    host::VcpuResolution resolution;
    resolution.qemu_pid = ::getpid();
    resolution.source = "comm";
    for (std::uint32_t i = 0; i < tids_.size(); ++i) resolution.threads.push_back({i, tids_[i]});
    return resolution;
  }

 private:
  std::vector<std::atomic<pid_t>> tids_;
  std::vector<std::thread> threads_;
  std::atomic<bool> quit_{false};
};

void send_all(int fd, const std::string& bytes, const char* where) {
  std::size_t at = 0;
  while (at < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error(std::string(where) + ": send: " + std::strerror(errno));
    at += static_cast<std::size_t>(n);
  }
}

// The guest's end: blocking reads (5 s timeout), frames decoded as a guest agent would.
class Guest {
 public:
  explicit Guest(UniqueFd fd) : fd_(std::move(fd)) {
    timeval timeout{5, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  void send(const protocol::Message& message) {
    send_all(fd_.get(), protocol::encode_message(message), "guest");
  }
  // Reads until a message of type T; any other message (an error) is a failure.
  template <class T>
  T receive() {
    for (;;) {
      std::string_view rest = pending_;
      if (auto payload = decoder_.next(rest)) {
        pending_ = std::string(rest);
        auto parsed = protocol::parse_message(*payload);
        auto* message = std::get_if<protocol::Message>(&parsed);
        if (!message) throw std::runtime_error("guest: the host sent an invalid frame");
        if (auto* wanted = std::get_if<T>(message)) return std::move(*wanted);
        if (auto* error = std::get_if<protocol::Error>(message)) {
          throw std::runtime_error("guest: the host answered error: " + error->message);
        }
        continue;  // e.g. a sample: not what is being timed
      }
      pending_.clear();
      char buffer[1 << 16];
      const ssize_t n = ::recv(fd_.get(), buffer, sizeof buffer, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        throw std::runtime_error(n == 0 ? "guest: the host closed the channel"
                                        : "guest: no reply within 5 s");
      }
      pending_.assign(buffer, static_cast<std::size_t>(n));
    }
  }

 private:
  UniqueFd fd_;
  protocol::FrameDecoder decoder_;
  std::string pending_;
};

// The floor: a plain thread echoing whatever arrives on its end of a socketpair.
class EchoPair {
 public:
  EchoPair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
      throw std::runtime_error(std::string("floor: socketpair: ") + std::strerror(errno));
    }
    client_ = UniqueFd(fds[0]);
    server_ = UniqueFd(fds[1]);
    thread_ = std::thread([this] {
      char buffer[4096];
      for (;;) {
        const ssize_t n = ::recv(server_.get(), buffer, sizeof buffer, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        if (::send(server_.get(), buffer, static_cast<std::size_t>(n), MSG_NOSIGNAL) != n) return;
      }
    });
  }
  ~EchoPair() {
    ::shutdown(client_.get(), SHUT_RDWR);
    thread_.join();
  }
  // One round trip of `frame`, in us.
  double round_trip_us(const std::string& frame) {
    const auto start = Clock::now();
    send_all(client_.get(), frame, "floor");
    std::size_t got = 0;
    char buffer[4096];
    while (got < frame.size()) {
      const ssize_t n = ::recv(client_.get(), buffer, sizeof buffer, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw std::runtime_error("floor: the echo thread went away");
      got += static_cast<std::size_t>(n);
    }
    return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
  }

 private:
  UniqueFd client_, server_;
  std::thread thread_;
};

std::uint64_t realtime_ns() {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(now.tv_nsec);
}

double percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  // Nearest rank: the smallest value with at least p of them at or below it.
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(values.size())));
  return values[std::clamp<std::size_t>(rank, 1, values.size()) - 1];
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t requests = 200;
  std::size_t warmup = 10;
  std::string json_path;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--requests" && i + 1 < argc) {
      requests = std::stoul(argv[++i]);
    } else if (arg == "--warmup" && i + 1 < argc) {
      warmup = std::stoul(argv[++i]);
    } else if (arg == "--json" && i + 1 < argc) {
      json_path = argv[++i];
    } else {
      std::fprintf(stderr, "request_latency: unknown argument '%s'\nusage: request_latency "
                           "[--requests N] [--warmup W] [--json FILE]\n",
                   arg.c_str());
      return 2;
    }
  }
  if (requests == 0) {
    std::fprintf(stderr, "request_latency: --requests must be at least 1\n");
    return 2;
  }
  log::set_level(log::Level::warning);
  std::optional<bench::Figures> out_storage;
  try {
    out_storage.emplace(json_path);
  } catch (const std::runtime_error& error) {
    std::fprintf(stderr, "%s: %s: %s\n", "request_latency", error.what(), std::strerror(errno));
    return 2;
  }
  bench::Figures& out = *out_storage;

  const std::string shape = "K=" + std::to_string(kThreads) + " E=" + std::to_string(kEvents.size());
  std::printf("request latency: start -> started over a unix socket, %zu requests (%s), "
              "interleaved with the floor\n", requests, shape.c_str());
  std::fflush(stdout);
  int status = 0;
  std::vector<double> start_us, keepalive_us, floor_us, read_us, snapshot_us;
  std::string problem;
  {
    Vcpus vcpus(kThreads);
    const auto event_table = host::probe_event_table();
    host::SessionConfig config;
    config.max_starts_per_second = 100'000;  // the figure is a start's cost, not the rate
    config.max_counter_opens_per_second = 10'000'000;
    config.lease_ms = 60'000;
    auto domain = std::make_shared<host::DomainContext>();
    domain->name = "bench";
    domain->uuid = "00000000-0000-4000-8000-0000000000bf";
    domain->vcpus = kThreads;
    domain->resolve_threads = [&vcpus] { return vcpus.resolution(); };

    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
      std::fprintf(stderr, "request_latency: socketpair: %s\n", std::strerror(errno));
      return 1;
    }
    Guest guest{UniqueFd(fds[1])};
    boost::asio::io_context io;
    host::ChannelSocket socket(io, boost::asio::generic::stream_protocol(AF_UNIX, 0), fds[0]);
    auto connection = std::make_shared<host::ChannelConnection>(
        std::move(socket), domain, config, event_table, "bench channel");
    boost::asio::co_spawn(io, connection->run(), boost::asio::detached);
    std::thread host_thread([&io] {
      pthread_setname_np(pthread_self(), "hostd-io");
      io.run();
    });
    EchoPair floor;
    const std::string small_frame = protocol::encode_message(protocol::Keepalive{kNonce});

    try {
      guest.send(protocol::Hello{kNonce, 1, protocol::kReadProtocolVersion, "request_latency", "0"});
      guest.receive<protocol::Welcome>();
      for (std::size_t i = 0; i < warmup + requests; ++i) {
        protocol::Start start;
        start.nonce = kNonce;
        start.request_id = i + 1;
        start.events = kEvents;
        start.per_vcpu = false;  // no interval: counts until stop, only the report
        const auto sent = Clock::now();
        guest.send(start);
        const auto started = guest.receive<protocol::Started>();
        const double us = std::chrono::duration<double, std::micro>(Clock::now() - sent).count();
        if (started.request_id != start.request_id) {
          throw std::runtime_error("started for request " + std::to_string(started.request_id) +
                                   ", expected " + std::to_string(start.request_id));
        }
        const auto asked = Clock::now();
        const std::uint64_t written_ns = realtime_ns();
        guest.send(protocol::Read{kNonce, start.request_id, 1});
        const auto snapshot = guest.receive<protocol::Sample>();
        const double read = std::chrono::duration<double, std::micro>(Clock::now() - asked).count();
        if (snapshot.read_id != 1u) throw std::runtime_error("a sample that is not the read's answer");
        const double taken = snapshot.host_time_ns > written_ns
                                 ? static_cast<double>(snapshot.host_time_ns - written_ns) / 1000.0
                                 : 0.0;
        guest.send(protocol::Stop{kNonce, start.request_id});
        guest.receive<protocol::Report>();

        const auto ping = Clock::now();
        guest.send(protocol::Keepalive{kNonce});
        guest.receive<protocol::Keepalive>();
        const double ka = std::chrono::duration<double, std::micro>(Clock::now() - ping).count();
        const double bare = floor.round_trip_us(small_frame);
        if (i < warmup) continue;
        start_us.push_back(us);
        read_us.push_back(read);
        snapshot_us.push_back(taken);
        keepalive_us.push_back(ka);
        floor_us.push_back(bare);
      }
    } catch (const std::exception& error) {
      problem = error.what();
      status = 1;
    }
    connection->close();
    io.stop();
    host_thread.join();
  }

  if (start_us.empty()) {
    std::fprintf(stderr, "request_latency: %s\n", problem.c_str());
    out.row("request latency: start -> started, median", std::nullopt, "us", "socket round trip",
            std::nullopt, "report only", false, "not measured: " + problem);
  } else {
    const std::string counted = std::to_string(start_us.size()) + " requests (" + shape +
                                ", " + std::to_string(warmup) + " warm-up not counted)" +
                                (problem.empty() ? "" : "; stopped early: " + problem);
    out.row("request latency: start -> started, median", percentile(start_us, 0.5), "us",
            "socket round trip", percentile(floor_us, 0.5), "report only", status == 0,
            counted + "; keepalive echo via the same connection: " +
                bench::fixed(percentile(keepalive_us, 0.5), 1) + " us");
    out.row("request latency: start -> started, p99", percentile(start_us, 0.99), "us",
            "socket round trip", percentile(floor_us, 0.99), "report only", status == 0,
            counted + "; keepalive echo p99: " + bench::fixed(percentile(keepalive_us, 0.99), 1) +
                " us; max " + bench::fixed(*std::max_element(start_us.begin(), start_us.end()), 0) +
                " us");
    const double snapshot_p99 = percentile(snapshot_us, 0.99);
    out.row("read -> snapshot taken on the host, p99", snapshot_p99, "us", "socket round trip",
            percentile(floor_us, 0.99), "<= 1000 us", status == 0 && snapshot_p99 <= 1000.0,
            "the answer's host_time_ns after the guest's write (CLOCK_REALTIME), socket transit "
            "included; median " + bench::fixed(percentile(snapshot_us, 0.5), 1) +
                " us; the guest's read -> sample round trip median " +
                bench::fixed(percentile(read_us, 0.5), 1) + " us, p99 " +
                bench::fixed(percentile(read_us, 0.99), 1) + " us");
  }
  return status;
}
