// Every way the connection to perfkvm-hostd ends, as perfkvm words it (link_end.hpp): what the
// kernel reports for each transport mapped to its cause.
#include <doctest/doctest.h>

#include <cerrno>
#include <string>

#include "guest-agent/link_end.hpp"

using perfkvm::guest::describe_link_end;
using perfkvm::guest::LinkEnd;
using perfkvm::guest::TransportKind;

namespace {
const std::string kPort = "/dev/virtio-ports/org.perfkvm.0";
const std::string kVsock = "vsock CID 2 port 9999";
}  // namespace

TEST_CASE("link end: the port's end-of-file after a session is hostd gone, a socket's is hostd "
          "closing it") {
  CHECK(describe_link_end(TransportKind::virtio_serial, LinkEnd::eof, 0, kPort) ==
        "perfkvm-hostd disconnected from /dev/virtio-ports/org.perfkvm.0 (it stopped or "
        "restarted)");
  CHECK(describe_link_end(TransportKind::vsock, LinkEnd::eof, 0, kVsock) ==
        "perfkvm-hostd closed the connection");
  CHECK(describe_link_end(TransportKind::unix_socket, LinkEnd::eof, 0, "/run/x.sock") ==
        "perfkvm-hostd closed the connection");
}

TEST_CASE("link end: an unplugged port (ENODEV from virtio_console) says the channel was "
          "unplugged, reading or writing") {
  const std::string unplugged =
      "the perfkvm channel was unplugged from this VM (/dev/virtio-ports/org.perfkvm.0 is gone)";
  CHECK(describe_link_end(TransportKind::virtio_serial, LinkEnd::read_error, ENODEV, kPort) ==
        unplugged);
  CHECK(describe_link_end(TransportKind::virtio_serial, LinkEnd::write_error, ENODEV, kPort) ==
        unplugged);
}

TEST_CASE("link end: vsock's reset and timeout name the host's side") {
  const std::string reset = "the connection to perfkvm-hostd (vsock CID 2 port 9999) was reset: "
                            "perfkvm-hostd stopped or restarted, or the host reset the transport";
  for (const int error : {ECONNRESET, EPIPE, ECONNABORTED, ESHUTDOWN}) {
    CAPTURE(error);
    CHECK(describe_link_end(TransportKind::vsock, LinkEnd::read_error, error, kVsock) == reset);
    CHECK(describe_link_end(TransportKind::vsock, LinkEnd::write_error, error, kVsock) == reset);
  }
  CHECK(describe_link_end(TransportKind::vsock, LinkEnd::read_error, ETIMEDOUT, kVsock) ==
        "the connection to perfkvm-hostd (vsock CID 2 port 9999) timed out: the host stopped "
        "answering");
}

TEST_CASE("link end: anything else is the call, the transport and the system's own words") {
  CHECK(describe_link_end(TransportKind::virtio_serial, LinkEnd::read_error, EIO, kPort) ==
        "reading from /dev/virtio-ports/org.perfkvm.0 failed: Input/output error");
  CHECK(describe_link_end(TransportKind::vsock, LinkEnd::write_error, ENOMEM, kVsock) ==
        "writing to vsock CID 2 port 9999 failed: Cannot allocate memory");
  // A socket's ENODEV is not an unplugged port.
  CHECK(describe_link_end(TransportKind::vsock, LinkEnd::read_error, ENODEV, kVsock) ==
        "reading from vsock CID 2 port 9999 failed: No such device");
}
