// The byte stream to perfkvm-hostd: the virtio-serial port, an AF_VSOCK connection, or (for
// tests, through --device) a unix socket standing in for the port. Non-blocking throughout:
// the caller polls fd().
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "guest-agent/options.hpp"
#include "util/unique_fd.hpp"

namespace perfkvm::guest {

enum class TransportKind {
  virtio_serial,  // a character device: EOF only means "no host connected right now"
  vsock,
  unix_socket,
};

class Transport {
 public:
  enum class ReadResult { data, nothing, eof, error };

  Transport(UniqueFd fd, TransportKind kind, std::string description);

  int fd() const { return fd_.get(); }
  TransportKind kind() const { return kind_; }
  // Where the bytes go, for messages: "/dev/virtio-ports/org.perfkvm.0", "vsock CID 2 port 9999".
  const std::string& description() const { return description_; }
  // On a socket EOF is final; on virtio-serial it is what read() says until a host connects.
  bool eof_is_final() const { return kind_ != TransportKind::virtio_serial; }

  // Appends what can be read without blocking to `into`. On `error`, error_text() says why.
  ReadResult read_some(std::string& into);
  // Writes what the transport takes now; 0 when it would block. -1 on error (error_text()).
  std::ptrdiff_t write_some(std::string_view bytes);
  const std::string& error_text() const { return error_text_; }
  int error_number() const { return error_number_; }  // errno of the last failed call

  // Reads that returned end-of-file, to check that perfkvm backs off rather than spins.
  std::size_t eof_reads() const { return eof_reads_; }

 private:
  UniqueFd fd_;
  TransportKind kind_;
  std::string description_;
  std::string error_text_;
  int error_number_ = 0;
  std::size_t eof_reads_ = 0;
};

// How the port is opened: open(2) with these flags, returning the fd or -1 and errno.
using PortOpen = int (*)(const char* path, int flags);
int open_port_file(const char* path, int flags);  // ::open(path, flags)

// Opens what the options name: --device PATH (a unix socket is connected, anything else
// opened as the port), --vsock [CID:]PORT, or by default the port if it exists, else vsock to
// the host. A vsock connect waits at most `timeout`. Throws GuestError with a message that
// names the fix (missing channel, port busy, nothing listening). `default_port` is the port's
// path (a test names one that does not exist, so the real port's presence changes nothing).
// `open` opens the port. A test passes one that fails with EBUSY, as the virtio-serial port
// does while another process has it open: nothing a test can create does that reliably (a
// pty in exclusive mode does, but not for root).
Transport open_transport(const ConnectOptions& options,
                         std::string_view default_port = kDefaultPortPath,
                         PortOpen open = open_port_file);

}  // namespace perfkvm::guest
