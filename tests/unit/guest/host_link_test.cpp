// HostLink and HostSession in-process, over a socketpair standing in for the port.
#include "guest-agent/host_link.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sstream>

#include "guest-agent/host_session.hpp"
#include "protocol/codec.hpp"

using namespace perfkvm;
using namespace perfkvm::guest;
using namespace std::chrono_literals;

namespace {

constexpr const char* kOurs = "0123456789abcdef";

struct Pair {
  UniqueFd guest;
  UniqueFd host;
};

Pair socket_pair() {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
  return Pair{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

void host_writes(int fd, const std::string& bytes) {
  REQUIRE(::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
}

// Every frame the host side can read now, decoded.
std::vector<protocol::Message> host_reads(int fd) {
  ::fcntl(fd, F_SETFL, O_NONBLOCK);
  std::string bytes;
  char buffer[65536];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) bytes.append(buffer, n);
  protocol::FrameDecoder decoder;
  std::string_view input = bytes;
  std::vector<protocol::Message> messages;
  while (auto payload = decoder.next(input)) {
    auto parsed = protocol::parse_message(*payload);
    if (auto* message = std::get_if<protocol::Message>(&parsed)) messages.push_back(*message);
  }
  return messages;
}


// A HostLink over one end of a socketpair, expecting kOurs' messages; the test plays the host
// on `pair.host`.
struct SocketLink {
  explicit SocketLink(TransportKind kind = TransportKind::unix_socket,
                      std::string description = "test socket", bool verbose = false)
      : diagnostics(log, verbose),
        link(Transport(std::move(pair.guest), kind, std::move(description)), diagnostics) {
    link.expect_nonce(kOurs);
  }
  Pair pair = socket_pair();
  std::ostringstream log;
  Diagnostics diagnostics;
  HostLink link;
};

}  // namespace

TEST_CASE("only messages of our session get through") {
  SocketLink test(TransportKind::unix_socket, "test socket", /*verbose=*/true);
  auto& [pair, log, diagnostics, link] = test;

  std::string stream = "leftover bytes of nothing";
  stream += protocol::encode_message(protocol::Keepalive{"fedcba9876543210"});
  stream += protocol::encode_frame("{\"type\":");
  stream += protocol::encode_message(protocol::Error{
      "", std::nullopt, protocol::ErrorCode::invalid_json, "payload is not valid JSON", std::nullopt});
  stream += protocol::encode_message(protocol::Start{kOurs, 1, {"task-clock"}, {}, {}, false, {}});
  stream += std::string(
      "\xFF"
      "PK\x01\x00\x00\x00\x40{\"cut\":",
      15);  // cut short by the next frame
  stream += protocol::encode_message(protocol::Keepalive{kOurs});
  host_writes(pair.host.get(), stream);

  const auto event = link.wait(Clock::now() + 2s);
  REQUIRE(event.kind == LinkEvent::Kind::message);
  REQUIRE(std::holds_alternative<protocol::Keepalive>(event.message));
  CHECK(protocol::nonce_of(event.message) == kOurs);
  // Another nonce, invalid JSON, the empty-nonce error, a guest-to-host type.
  CHECK(link.dropped_messages() == 4);
  CHECK(link.decoder_stats().truncated == 1);
  CHECK(log.str().find(
            "dropped a message of another session: 'keepalive' (nonce 'fedcba9876543210')") !=
        std::string::npos);
  CHECK(link.wait(Clock::now() + 50ms).kind == LinkEvent::Kind::timeout);
}

TEST_CASE("what arrived by a deadline that has passed comes before the timeout (after a pause)") {
  SocketLink test;
  auto& [pair, log, diagnostics, link] = test;
  host_writes(pair.host.get(), protocol::encode_message(protocol::Keepalive{kOurs}));
  // As after a SIGSTOP or a paused VM: every deadline is long past when perfkvm runs again.
  const auto event = link.wait(Clock::now() - 10s);
  REQUIRE(event.kind == LinkEvent::Kind::message);
  CHECK(std::holds_alternative<protocol::Keepalive>(event.message));
  CHECK(link.wait(Clock::now() - 10s).kind == LinkEvent::Kind::timeout);
}

TEST_CASE("EOF on a socket: the host is gone, reported once") {
  SocketLink test;
  auto& [pair, log, diagnostics, link] = test;
  pair.host.reset();
  const auto event = link.wait(Clock::now() + 2s);
  CHECK(event.kind == LinkEvent::Kind::host_gone);
  CHECK(event.reason == "perfkvm-hostd closed the connection");
  CHECK(link.host_gone());
  CHECK(link.wait(Clock::now() + 20ms).kind == LinkEvent::Kind::timeout);
}

TEST_CASE("virtio-serial without a host: back off, do not spin, time out naming the fix") {
  auto pair = socket_pair();
  // Reads see EOF at once and every time, as on a port with no host connected.
  ::shutdown(pair.host.get(), SHUT_WR);
  std::ostringstream log;
  Diagnostics diagnostics(log);
  HostLink link(Transport(std::move(pair.guest), TransportKind::virtio_serial,
                          "/dev/virtio-ports/org.perfkvm.0"),
                diagnostics);
  HostSession session(link, 1000ms, "1 s");
  const auto began = Clock::now();
  std::string message;
  try {
    session.open();
  } catch (const GuestError& error) {
    message = error.what();
  }
  const auto elapsed = Clock::now() - began;
  CHECK(message ==
        "no answer from perfkvm-hostd on the host within 1 s over "
        "/dev/virtio-ports/org.perfkvm.0: is perfkvm-hostd running on the host, and does this "
        "domain's XML have the perfkvm channel? (see xml/ in perfkvm)");
  CHECK(elapsed >= 1000ms);
  CHECK(elapsed < 1400ms);
  // Backing off 10, 20, 40 ... 250 ms: a handful of reads in a second, not thousands.
  CHECK(link.transport().eof_reads() >= 3);
  CHECK(link.transport().eof_reads() <= 15);
  CHECK_FALSE(link.host_gone());
  // It said hello (all its hellos were written; the host reads them later).
  const auto sent = host_reads(pair.host.get());
  REQUIRE_FALSE(sent.empty());
  CHECK(std::holds_alternative<protocol::Hello>(sent.front()));
}

TEST_CASE("virtio-serial EOF after the welcome: the host disconnected") {
  SocketLink test(TransportKind::virtio_serial, "/dev/vport0p1");
  auto& [pair, log, diagnostics, link] = test;
  ::shutdown(pair.host.get(), SHUT_WR);
  link.set_session_established();
  const auto event = link.wait(Clock::now() + 2s);
  CHECK(event.kind == LinkEvent::Kind::host_gone);
  CHECK(event.reason == "perfkvm-hostd disconnected from /dev/vport0p1 (it stopped or restarted)");
}

TEST_CASE("writes wait in the outbox while the host does not read; a superseded hello is dropped") {
  auto pair = socket_pair();
  // Fill the socket so that nothing more can be written, as on a port nobody reads.
  const std::string filler(4096, 'x');
  while (::write(pair.guest.get(), filler.data(), filler.size()) > 0) {
  }
  std::ostringstream log;
  Diagnostics diagnostics(log);
  HostLink link(Transport(std::move(pair.guest), TransportKind::virtio_serial, "test port"),
                diagnostics);
  link.send(protocol::Hello{"1111111111111111", 1, 1, "perfkvm", ""});
  CHECK_FALSE(link.all_sent());
  link.drop_unsent();
  link.expect_nonce("2222222222222222");
  link.send(protocol::Hello{"2222222222222222", 1, 1, "perfkvm", ""});

  // The host starts reading; the link writes while it waits.
  auto received = host_reads(pair.host.get());
  CHECK(received.empty());  // only filler so far
  for (int i = 0; i < 50 && !link.all_sent(); ++i) {
    link.wait(Clock::now() + 10ms);
    for (auto& message : host_reads(pair.host.get())) received.push_back(message);
  }
  CHECK(link.all_sent());
  REQUIRE(received.size() == 1);
  CHECK(protocol::nonce_of(received.front()) == "2222222222222222");
}
