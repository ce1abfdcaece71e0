// The transports around the session engine: the virtio-serial client against a unix socket
// standing in for QEMU's channel socket, and the vsock listener's accept path and CID
// lookup at the socket layer (AF_UNIX in place of AF_VSOCK: the machines this runs on have no
// vhost-vsock; the real AF_VSOCK listener is exercised by the end-to-end suite).
#include <doctest/doctest.h>
#include <linux/vm_sockets.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <algorithm>
#include <cstring>
#include <filesystem>

#include "tests/support/stand_in_vcpus.hpp"
#include "host-agent/session/event_table.hpp"
#include "host-agent/transport/virtio_serial_client.hpp"
#include "host-agent/transport/vsock_listener.hpp"
#include "run_until.hpp"
#include "test_guest.hpp"
#include "util/unique_fd.hpp"

using namespace perfkvm;
using namespace perfkvm::host;
using namespace perfkvm::protocol;
using perfkvm::test::FakeVcpus;
using perfkvm::test::TestGuest;
using namespace std::chrono_literals;

namespace {

const std::string kNonce = "0123456789abcdef";

std::shared_ptr<DomainContext> domain(const std::string& name, const FakeVcpus& vcpus) {
  auto context = std::make_shared<DomainContext>();
  context->name = name;
  context->uuid = "11111111-2222-4333-8444-555555555555";
  context->vcpus = 2;
  context->resolve_threads = [&vcpus] { return vcpus.resolution(); };
  return context;
}

std::filesystem::path temp_socket_path(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("perfkvm-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto path = dir / name;
  std::filesystem::remove(path);
  return path;
}

// Accepts one connection on `listener`, running the io_context meanwhile.
UniqueFd accept_one(boost::asio::io_context& io, int listener) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    const int fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) return UniqueFd(fd);
    io.run_for(5ms);
  }
  FAIL("nobody connected");
  return {};
}

UniqueFd listen_unix(const std::filesystem::path& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
  REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(::listen(fd.get(), 4) == 0);
  return fd;
}

}  // namespace

TEST_CASE("virtio-serial client: waits for the socket, serves it, reconnects after QEMU drops it") {
  boost::asio::io_context io;
  SessionConfig config;
  const auto events = probe_event_table();
  FakeVcpus vcpus(2);
  const auto path = temp_socket_path("channel.sock");

  auto client = std::make_shared<VirtioSerialClient>(io.get_executor(), domain("web1", vcpus),
                                                     path.string(), config, events);
  client->start();
  io.run_for(200ms);  // the socket does not exist yet: the client keeps retrying
  CHECK(client->connects() == 0);

  auto qemu = listen_unix(path);  // "QEMU" creates the channel socket
  {
    TestGuest guest(io, accept_one(io, qemu.get()));
    guest.send(Hello{kNonce, 1, 1, "perfkvm", "0"});
    CHECK(guest.receive_until<Welcome>().domain_name == "web1");
    CHECK(client->connects() == 1);
  }  // "QEMU" closes the connection (e.g. it restarted)

  TestGuest again(io, accept_one(io, qemu.get()));
  again.send(Hello{kNonce, 1, 1, "perfkvm", "0"});
  CHECK(again.receive_until<Welcome>().nonce == kNonce);
  CHECK(client->connects() == 2);

  client->stop();
  io.run_for(50ms);
  CHECK(client->connection() == nullptr);
  std::filesystem::remove_all(path.parent_path());
}

namespace {

// One byte and room for one fd (SCM_RIGHTS), to send or to receive.
struct FdMessage {
  char byte = 'f';
  iovec data{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr message{};
  FdMessage() {
    message.msg_iov = &data;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
  }
  FdMessage(const FdMessage&) = delete;
  FdMessage& operator=(const FdMessage&) = delete;
};

// A listening socket at `path` made by a child process running as `uid` (the kernel keeps the
// listener's credentials for SO_PEERCRED), handed to this process over SCM_RIGHTS: "another
// domain's QEMU" that put its socket at this domain's path.
UniqueFd listen_unix_as(uid_t uid, const std::filesystem::path& path) {
  int pair[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
  UniqueFd parent_end(pair[0]), child_end(pair[1]);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // Only system calls from here: the child of a threaded process.
    if (::setresgid(uid, uid, uid) != 0 || ::setresuid(uid, uid, uid) != 0) ::_exit(2);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.c_str(), std::min(path.string().size(), sizeof address.sun_path - 1));
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(fd, 4) != 0) {
      ::_exit(3);
    }
    FdMessage out;
    cmsghdr* header = CMSG_FIRSTHDR(&out.message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(header), &fd, sizeof fd);
    ::_exit(::sendmsg(child_end.get(), &out.message, 0) == 1 ? 0 : 4);
  }
  child_end = UniqueFd();
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  const bool made = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  REQUIRE_MESSAGE(made, "the child making the socket failed with status " << status);
  FdMessage in;
  REQUIRE(::recvmsg(parent_end.get(), &in.message, MSG_CMSG_CLOEXEC) == 1);
  const cmsghdr* header = CMSG_FIRSTHDR(&in.message);
  REQUIRE(header);
  REQUIRE(header->cmsg_type == SCM_RIGHTS);
  int fd = -1;
  std::memcpy(&fd, CMSG_DATA(header), sizeof fd);
  return UniqueFd(fd);
}

}  // namespace

TEST_CASE("virtio-serial client: a channel socket whose listener is neither the domain's QEMU "
          "nor root is not served, and is retried") {
  if (::geteuid() != 0) {
    MESSAGE("skipped: making a socket as another user needs root (this test runs as uid "
            << ::geteuid() << ")");
    return;
  }
  boost::asio::io_context io;
  SessionConfig config;
  const auto events = probe_event_table();
  FakeVcpus vcpus(2);  // "the domain's QEMU" is this process
  const auto path = temp_socket_path("foreign.sock");
  std::filesystem::permissions(path.parent_path(), std::filesystem::perms::all);
  auto foreign = listen_unix_as(65534, path);

  auto client = std::make_shared<VirtioSerialClient>(io.get_executor(), domain("web1", vcpus),
                                                     path.string(), config, events);
  client->start();
  // hostd connects, sees who listens, and drops the connection without a word: the guest end
  // reads end-of-file, and a hello on it would never be answered.
  const auto refused = accept_one(io, foreign.get());
  REQUIRE(perfkvm::test::run_until(io, [&] { return client->refused_peers() >= 1; }, 5s));
  char byte = 0;
  CHECK(::recv(refused.get(), &byte, 1, 0) == 0);
  CHECK(client->connects() == 0);
  CHECK(client->connection() == nullptr);
  // And it tries again (the domain's QEMU may replace the socket when it restarts).
  const auto again = accept_one(io, foreign.get());
  CHECK(perfkvm::test::run_until(io, [&] { return client->refused_peers() >= 2; }, 5s));
  CHECK(client->connects() == 0);

  client->stop();
  io.run_for(50ms);
  std::filesystem::remove_all(path.parent_path());
}

TEST_CASE("stream listener: the peer CID picks the domain; an unknown CID is refused") {
  boost::asio::io_context io;
  SessionConfig config;
  const auto events = probe_event_table();
  FakeVcpus vcpus(2);
  const auto web1 = domain("web1", vcpus);
  const auto path = temp_socket_path("vsock-standin.sock");

  boost::asio::local::stream_protocol::acceptor unix_acceptor(
      io, boost::asio::local::stream_protocol::endpoint(path.string()));
  StreamListener::Acceptor acceptor(io, boost::asio::generic::stream_protocol(AF_UNIX, 0),
                                    unix_acceptor.release());
  // Test mapping in place of the kernel's peer CID: connections get CIDs 5, 9, 5...
  std::vector<std::uint32_t> cids = {5, 9};
  std::size_t accepted = 0;
  auto listener = std::make_shared<StreamListener>(
      std::move(acceptor),
      [&](const ChannelSocket&) { return std::optional(cids[accepted++ % cids.size()]); },
      [&](std::uint32_t cid) { return cid == 5 ? web1 : nullptr; }, config, events);
  listener->start();

  auto dial = [&] {
    boost::asio::local::stream_protocol::socket socket(io);
    socket.connect(boost::asio::local::stream_protocol::endpoint(path.string()));
    return UniqueFd(socket.release());
  };

  TestGuest known(io, dial());
  known.send(Hello{kNonce, 1, 1, "perfkvm", "0"});
  CHECK(known.receive_until<Welcome>().domain_name == "web1");

  TestGuest unknown(io, dial());
  unknown.send(Hello{kNonce, 1, 1, "perfkvm", "0"});
  const auto refused = unknown.receive_until<Error>();
  CHECK(refused.code == ErrorCode::unknown_peer);
  CHECK(refused.nonce == kNonce);  // addressed to the guest's first frame
  CHECK(refused.message == "CID 9 belongs to no running domain this host serves");
  CHECK_THROWS_WITH_AS(unknown.receive(500ms), "test guest: the host closed the channel",
                       std::runtime_error);

  CHECK(listener->connections().size() == 1);
  listener->close_domain(*web1);
  CHECK_THROWS_AS(known.receive(1000ms), std::runtime_error);
  listener->stop();
  std::filesystem::remove_all(path.parent_path());
}

TEST_CASE("stream listener: connections cannot pile up") {
  boost::asio::io_context io;
  SessionConfig config;
  config.lease_ms = 300;
  config.max_sessions = 1;
  const auto events = probe_event_table();
  FakeVcpus vcpus(2);
  const auto web1 = domain("web1", vcpus);
  int lookups = 0;
  const auto path = temp_socket_path("vsock-limits.sock");
  boost::asio::local::stream_protocol::acceptor unix_acceptor(
      io, boost::asio::local::stream_protocol::endpoint(path.string()));
  auto listener = std::make_shared<StreamListener>(
      StreamListener::Acceptor(io, boost::asio::generic::stream_protocol(AF_UNIX, 0),
                               unix_acceptor.release()),
      [](const ChannelSocket&) { return std::optional<std::uint32_t>(5); },
      [&](std::uint32_t) {
        ++lookups;
        return web1;
      },
      config, events);
  listener->start();
  auto dial = [&] {
    boost::asio::local::stream_protocol::socket socket(io);
    socket.connect(boost::asio::local::stream_protocol::endpoint(path.string()));
    return UniqueFd(socket.release());
  };

  // A connection that never says hello is closed after a lease.
  TestGuest idle(io, dial());
  CHECK_THROWS_WITH_AS(idle.receive(2000ms), "test guest: the host closed the channel",
                       std::runtime_error);

  // A refused hello closes the connection once the refusal is written.
  TestGuest first(io, dial());
  first.send(Hello{kNonce, 1, 1, "perfkvm", "0"});
  first.receive_until<Welcome>();
  TestGuest second(io, dial());
  second.send(Hello{"aaaaaaaabbbbbbbb", 1, 1, "perfkvm", "0"});
  CHECK(second.receive_until<Error>().code == ErrorCode::too_many_sessions);
  CHECK_THROWS_WITH_AS(second.receive(1000ms), "test guest: the host closed the channel",
                       std::runtime_error);

  // Beyond max_sessions + 2 connections per CID, new ones are closed at once, before the
  // domain is looked up (which costs libvirt calls in hostd).
  const int lookups_before = lookups;
  std::vector<std::unique_ptr<TestGuest>> extra;
  for (int i = 0; i < 3; ++i) extra.push_back(std::make_unique<TestGuest>(io, dial()));
  io.run_for(50ms);
  CHECK(lookups == lookups_before + 2);  // the third was never looked up
  CHECK_THROWS_WITH_AS(extra.back()->receive(500ms), "test guest: the host closed the channel",
                       std::runtime_error);
  extra.pop_back();
  // A connection that ends gives its place back.
  extra.pop_back();
  io.run_for(50ms);
  extra.push_back(std::make_unique<TestGuest>(io, dial()));
  extra.back()->send(Hello{"ccccccccdddddddd", 1, 1, "perfkvm", "0"});
  // Served, not cut off: its hello gets an answer (welcome, or too-many-sessions while first's
  // session has not yet expired).
  CHECK_NOTHROW(extra.back()->receive(1000ms));
  listener->stop();
  std::filesystem::remove_all(path.parent_path());
}

TEST_CASE("the real AF_VSOCK listener binds where the host has vsock") {
  // What the kernel says, asked directly: can a vsock stream socket bind and listen here?
  const unsigned port = 0xFFFF0000u + static_cast<unsigned>(::getpid() & 0xFFFF);
  int kernel_error = 0;
  {
    UniqueFd probe(::socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_vm address{};
    address.svm_family = AF_VSOCK;
    address.svm_cid = VMADDR_CID_ANY;
    address.svm_port = port;
    if (!probe || ::bind(probe.get(), reinterpret_cast<const sockaddr*>(&address),
                         sizeof address) != 0 || ::listen(probe.get(), 1) != 0) {
      kernel_error = errno;
    }
  }
  boost::asio::io_context io;
  if (kernel_error == 0) {
    MESSAGE("this host has AF_VSOCK: the listener must bind and listen");
    auto acceptor = StreamListener::open_vsock(io.get_executor(), port);
    CHECK(acceptor.is_open());
  } else {
    MESSAGE("this host has no usable AF_VSOCK (" << std::strerror(kernel_error)
                                                 << "): the listener must say so, not pretend");
    try {
      StreamListener::open_vsock(io.get_executor(), port);
      FAIL("open_vsock succeeded where the kernel refused a vsock listener");
    } catch (const boost::system::system_error& error) {
      CHECK(error.code().value() == kernel_error);
    }
  }
}

TEST_CASE("stream listener: a connect storm from unknown CIDs is capped, costs no unbounded "
          "fds, and stop() closes the connections being refused") {
  boost::asio::io_context io;
  SessionConfig config;
  const auto events = probe_event_table();
  const auto path = temp_socket_path("vsock-storm.sock");
  boost::asio::local::stream_protocol::acceptor unix_acceptor(
      io, boost::asio::local::stream_protocol::endpoint(path.string()));
  std::uint32_t next_cid = 1000;  // every peer another CID that no domain has
  int lookups = 0;
  auto listener = std::make_shared<StreamListener>(
      StreamListener::Acceptor(io, boost::asio::generic::stream_protocol(AF_UNIX, 0),
                               unix_acceptor.release()),
      [&](const ChannelSocket&) { return std::optional<std::uint32_t>(next_cid++); },
      [&](std::uint32_t) {
        ++lookups;
        return std::shared_ptr<DomainContext>();
      },
      config, events);
  listener->start();
  // Peers that connect and never send: each waits for its first frame until the deadline.
  std::vector<boost::asio::local::stream_protocol::socket> peers;
  for (std::size_t i = 0; i < StreamListener::kMaxPending + 40; ++i) {
    peers.emplace_back(io).connect(boost::asio::local::stream_protocol::endpoint(path.string()));
  }
  io.run_for(200ms);
  CHECK(listener->pending() == StreamListener::kMaxPending);
  CHECK(lookups == static_cast<int>(StreamListener::kMaxPending));  // the rest: closed at once
  std::size_t closed = 0;
  for (auto& peer : peers) {
    char byte;
    boost::system::error_code ec;
    peer.non_blocking(true);
    peer.read_some(boost::asio::buffer(&byte, 1), ec);
    if (ec == boost::asio::error::eof) ++closed;
  }
  CHECK(closed == 40);
  const auto began = std::chrono::steady_clock::now();
  listener->stop();
  io.run_for(50ms);
  CHECK(listener->pending() == 0);  // closed by stop(), not left to the 2 s deadline
  CHECK(std::chrono::steady_clock::now() - began < StreamListener::kRefusalDeadline);
  std::filesystem::remove_all(path.parent_path());
}
