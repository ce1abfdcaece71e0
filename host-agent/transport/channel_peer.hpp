// Who serves a domain's virtio-serial channel socket. hostd finds the socket by its path in
// the domain XML and connects to it with the rights of a daemon that may read every domain's
// sockets; the path alone does not prove the listener is that domain's QEMU: a guest escaped
// into its own QEMU (which shares a uid with the other QEMUs where there is no sVirt) could put
// its own socket at another domain's path in a shared directory, and be served as that domain.
// So after connecting hostd asks the kernel who listens (SO_PEERCRED) and serves the socket
// only if it is the domain's QEMU, or root: libvirt's daemon opens a chardev's listening socket
// itself and hands it to QEMU, so the listener's credentials are the daemon's. A process
// running as root could do anything anyway; a QEMU running as its own user cannot make a socket
// whose listener is root's.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace perfkvm::host {

struct PeerCredentials {
  pid_t pid = 0;  // the process that listened; it may have exited since
  uid_t uid = 0;
};

// The credentials of the listener at the other end of the connected unix socket `fd`, or
// nullopt if the kernel cannot say.
std::optional<PeerCredentials> peer_credentials(int fd);

// Why a channel socket served by `peer` must not be taken for the domain whose QEMU is
// `qemu_pid` (nullopt: it could not be located), or nullopt when it may.
std::optional<std::string> channel_peer_problem(const PeerCredentials& peer,
                                                std::optional<pid_t> qemu_pid);

}  // namespace perfkvm::host
