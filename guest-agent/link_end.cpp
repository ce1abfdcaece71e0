#include "guest-agent/link_end.hpp"

#include <cerrno>
#include <cstring>

namespace perfkvm::guest {

std::string describe_link_end(TransportKind kind, LinkEnd end, int error_number,
                              const std::string& where) {
  if (end == LinkEnd::eof) {
    // The port reads end-of-file while no host program holds the channel's socket: hostd
    // stopped (killed, restarted, upgraded). A socket's EOF is hostd closing it.
    return kind == TransportKind::virtio_serial
               ? "perfkvm-hostd disconnected from " + where + " (it stopped or restarted)"
               : "perfkvm-hostd closed the connection";
  }
  switch (error_number) {
    case ENODEV:
    case ENXIO:
      // virtio_console fails reads and writes of an unplugged port with ENODEV.
      if (kind == TransportKind::virtio_serial) {
        return "the perfkvm channel was unplugged from this VM (" + where + " is gone)";
      }
      break;
    case ECONNRESET:
    case EPIPE:
    case ECONNABORTED:
    case ESHUTDOWN:
      // vsock: the host closed or reset the connection, or the transport itself was reset
      // (a migration, vhost-vsock restarted); the same for the test's unix socket.
      if (kind != TransportKind::virtio_serial) {
        return "the connection to perfkvm-hostd (" + where +
               ") was reset: perfkvm-hostd stopped or restarted, or the host reset the transport";
      }
      break;
    case ETIMEDOUT:
      if (kind != TransportKind::virtio_serial) {
        return "the connection to perfkvm-hostd (" + where + ") timed out: the host stopped "
               "answering";
      }
      break;
    default:
      break;
  }
  return std::string(end == LinkEnd::read_error ? "reading from " : "writing to ") + where +
         " failed: " + std::strerror(error_number);
}

}  // namespace perfkvm::guest
