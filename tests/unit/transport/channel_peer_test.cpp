// Who may serve a domain's channel socket (channel_peer.hpp): one case per rule.
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <unistd.h>

#include "host-agent/transport/channel_peer.hpp"
#include "util/unique_fd.hpp"

using perfkvm::UniqueFd;
using perfkvm::host::channel_peer_problem;
using perfkvm::host::peer_credentials;
using perfkvm::host::PeerCredentials;

TEST_CASE("channel peer: a root listener is libvirt's daemon, which opens the socket for QEMU") {
  CHECK_FALSE(channel_peer_problem(PeerCredentials{1234, 0}, 999));
  CHECK_FALSE(channel_peer_problem(PeerCredentials{1234, 0}, std::nullopt));
}

TEST_CASE("channel peer: the domain's own QEMU, whatever its user") {
  CHECK_FALSE(channel_peer_problem(PeerCredentials{999, 64055}, 999));
}

TEST_CASE("channel peer: another process of another user is refused, saying who it is") {
  const auto problem = channel_peer_problem(PeerCredentials{1234, 64055}, 999);
  REQUIRE(problem);
  CHECK(*problem ==
        "the socket is served by pid 1234 (uid 64055), which is neither the domain's QEMU (pid "
        "999) nor root (libvirt's daemon)");
  const auto unlocated = channel_peer_problem(PeerCredentials{1234, 64055}, std::nullopt);
  REQUIRE(unlocated);
  CHECK(unlocated->find("the domain's QEMU (not found)") != std::string::npos);
}

TEST_CASE("channel peer: the kernel's credentials of a connected unix socket are read") {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  const UniqueFd a(fds[0]), b(fds[1]);
  const auto peer = peer_credentials(a.get());
  REQUIRE(peer);
  CHECK(peer->pid == ::getpid());
  CHECK(peer->uid == ::getuid());
  CHECK_FALSE(peer_credentials(-1));
}
