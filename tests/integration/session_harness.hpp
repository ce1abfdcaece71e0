// The session engine's test bench, shared by session_test.cpp and hostile_guest_test.cpp: the
// host side is the real ChannelConnection on an io_context, counting real threads of this
// process named like QEMU's vCPU threads; the guest side is a TestGuest speaking the protocol
// (or, for a guest driven from another thread, the raw socket end).
#pragma once

#include <doctest/doctest.h>
#include <sys/socket.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/stand_in_vcpus.hpp"
#include "host-agent/session/channel_connection.hpp"
#include "host-agent/session/event_table.hpp"
#include "test_guest.hpp"
#include "util/unique_fd.hpp"

namespace perfkvm::test {

inline const std::string kNonce = "0123456789abcdef";
inline const std::string kOtherNonce = "fedcba9876543210";

struct Harness {
  boost::asio::io_context io;
  host::SessionConfig config;
  std::vector<protocol::EventStatus> events = host::probe_event_table();
  FakeVcpus vcpus{2};

  Harness() { config.lease_ms = 400; }

  std::shared_ptr<host::DomainContext> domain(const std::string& name,
                                              std::uint32_t vcpu_count = 2) {
    auto context = std::make_shared<host::DomainContext>();
    context->name = name;
    context->uuid = "00000000-0000-4000-8000-00000000000" + std::to_string(name.size() % 10);
    context->vcpus = vcpu_count;
    context->resolve_threads = [this] { return vcpus.resolution(); };
    return context;
  }

  // A domain with vCPU threads of its own, which the test makes exit by destroying them; the
  // domain still resolves to the threads it had, as a destroyed domain's stale view would.
  std::pair<std::shared_ptr<host::DomainContext>, std::unique_ptr<FakeVcpus>>
  domain_with_own_threads(const std::string& name) {
    auto context = domain(name);
    auto own = std::make_unique<FakeVcpus>(2);
    context->resolve_threads = [resolution = own->resolution()] { return resolution; };
    return {std::move(context), std::move(own)};
  }

  // A channel to `domain`: the host end served by a ChannelConnection, the guest end's socket
  // returned as it is (for a guest that is not driven by this thread's io_context).
  std::pair<std::shared_ptr<host::ChannelConnection>, UniqueFd> connect_raw(
      std::shared_ptr<host::DomainContext> context, int buffer_bytes = 0) {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    if (buffer_bytes) {
      for (int fd : fds) {
        ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer_bytes, sizeof buffer_bytes);
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer_bytes, sizeof buffer_bytes);
      }
    }
    host::ChannelSocket socket(io, boost::asio::generic::stream_protocol(AF_UNIX, 0), fds[0]);
    auto connection = std::make_shared<host::ChannelConnection>(
        std::move(socket), std::move(context), config, events, "test channel");
    boost::asio::co_spawn(io, connection->run(), boost::asio::detached);
    return {connection, UniqueFd(fds[1])};
  }

  // The same with the guest end as a TestGuest on this io_context.
  std::pair<std::shared_ptr<host::ChannelConnection>, std::unique_ptr<TestGuest>> connect(
      std::shared_ptr<host::DomainContext> context, int buffer_bytes = 0) {
    auto [connection, guest_end] = connect_raw(std::move(context), buffer_bytes);
    return {connection, std::make_unique<TestGuest>(io, std::move(guest_end))};
  }
};

// A version-1 guest unless `protocol_max` says otherwise.
inline protocol::Hello hello(const std::string& nonce = kNonce, std::uint32_t protocol_max = 1) {
  return protocol::Hello{nonce, 1, protocol_max, "perfkvm-test", "0"};
}

inline protocol::Start start(std::uint64_t id, std::vector<std::string> events,
                             std::optional<std::uint32_t> interval = std::nullopt,
                             bool per_vcpu = true) {
  protocol::Start s;
  s.nonce = kNonce;
  s.request_id = id;
  s.events = std::move(events);
  s.interval_ms = interval;
  s.per_vcpu = per_vcpu;
  return s;
}

inline protocol::Error expect_error(TestGuest& guest, protocol::ErrorCode code) {
  const auto error = guest.receive_until<protocol::Error>();
  CHECK(to_string(error.code) == to_string(code));
  return error;
}

inline const protocol::Count& counted(const protocol::Cell& cell) {
  REQUIRE(cell.has_value());
  return *cell;
}

// Every fd this process has open: counters that outlive their request show up here even when
// the connection no longer knows about them.
inline std::size_t process_fds() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    ++count;
  }
  return count - 1;  // the directory iterator's own fd
}

}  // namespace perfkvm::test
