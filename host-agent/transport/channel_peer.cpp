#include "host-agent/transport/channel_peer.hpp"

#include <sys/socket.h>

namespace perfkvm::host {

std::optional<PeerCredentials> peer_credentials(int fd) {
  ucred credentials{};
  socklen_t size = sizeof credentials;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &size) != 0 ||
      size != sizeof credentials) {
    return std::nullopt;
  }
  return PeerCredentials{credentials.pid, credentials.uid};
}

std::optional<std::string> channel_peer_problem(const PeerCredentials& peer,
                                                std::optional<pid_t> qemu_pid) {
  if (peer.uid == 0) return std::nullopt;  // libvirt's daemon opened it (or root did)
  if (qemu_pid && peer.pid == *qemu_pid) return std::nullopt;
  return "the socket is served by pid " + std::to_string(peer.pid) + " (uid " +
         std::to_string(peer.uid) + "), which is neither the domain's QEMU (" +
         (qemu_pid ? "pid " + std::to_string(*qemu_pid) : std::string("not found")) +
         ") nor root (libvirt's daemon)";
}

}  // namespace perfkvm::host
