// Why the connection to perfkvm-hostd ended, in words that name the cause: the host program
// gone (it stopped or restarted), the channel unplugged from the VM, a vsock connection reset
// or timed out. One table for every transport, so that each ending reads the same whichever
// way the bytes went (issue [faults]: never the first-contact hint once a session existed).
#pragma once

#include <string>

#include "guest-agent/transport.hpp"

namespace perfkvm::guest {

enum class LinkEnd {
  eof,          // read() returned 0 on a socket, or on the port after a host had connected
  read_error,   // read() failed with `error_number`
  write_error,  // write()/send() failed with `error_number`
};

// `where`: the transport's description ("/dev/virtio-ports/org.perfkvm.0", "vsock CID 2 port
// 9999"); `error_number`: errno of the failed call (0 for eof).
std::string describe_link_end(TransportKind kind, LinkEnd end, int error_number,
                              const std::string& where);

}  // namespace perfkvm::guest
