#include "guest-agent/transport.hpp"

#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include "guest-agent/diagnostics.hpp"

#include <optional>
#include <string_view>

namespace perfkvm::guest {

namespace {

const std::string kAdminFix = "the host admin adds it: see xml/ (perfkvm-host xml enable DOMAIN)";

std::string vsock_description(const VsockAddress& address) {
  return "vsock CID " + std::to_string(address.cid) + " port " + std::to_string(address.port);
}

std::string no_channel_text(std::string_view port) {
  return "this VM has no perfkvm channel (" + std::string(port) + " does not exist)";
}

// Connection refused/reset/timed out: vsock works but nobody listens on that port. Anything
// else (no AF_VSOCK in the kernel, no vsock device) means this VM has no vsock at all.
bool vsock_exists_but_nobody_listens(int error) {
  return error == ECONNREFUSED || error == ECONNRESET || error == ETIMEDOUT;
}

// Returns 0 and the connected socket, or the errno of the failure.
int connect_vsock(const VsockAddress& address, std::chrono::milliseconds timeout, UniqueFd& out) {
  UniqueFd fd(::socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return errno;
  sockaddr_vm peer{};
  peer.svm_family = AF_VSOCK;
  peer.svm_cid = address.cid;
  peer.svm_port = address.port;
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&peer), sizeof peer) != 0) {
    if (errno != EINPROGRESS) return errno;
    // A non-blocking connect, so that --timeout bounds it (vsock's own timeout is 2 s).
    pollfd wait{fd.get(), POLLOUT, 0};
    int ready = 0;
    do {
      ready = ::poll(&wait, 1, static_cast<int>(timeout.count()));
    } while (ready < 0 && errno == EINTR);
    if (ready == 0) return ETIMEDOUT;
    int error = 0;
    socklen_t length = sizeof error;
    if (ready < 0 || ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length) != 0) {
      return errno;
    }
    if (error != 0) return error;
  }
  out = std::move(fd);
  return 0;
}

// missing_port: the port that was looked for first when vsock is the fallback, else empty.
Transport open_vsock(const VsockAddress& address, std::chrono::milliseconds timeout,
                     std::optional<std::string_view> missing_port) {
  UniqueFd fd;
  const int error = connect_vsock(address, timeout, fd);
  if (error == 0) return Transport(std::move(fd), TransportKind::vsock, vsock_description(address));
  const std::string why = std::strerror(error);
  const std::string where = vsock_description(address);
  if (vsock_exists_but_nobody_listens(error)) {
    const std::string listen_fix =
        "is perfkvm-hostd running on the host, listening on vsock port " +
        std::to_string(address.port) + "?";
    if (missing_port) {
      throw GuestError(no_channel_text(*missing_port) + ", and nothing answers on " + where + " (" + why +
                       "): " + listen_fix +
                       " If this VM should use a virtio-serial channel instead, " + kAdminFix);
    }
    throw GuestError("cannot connect to perfkvm-hostd over " + where + ": " + why + ": " +
                     listen_fix);
  }
  if (missing_port) {
    throw GuestError(no_channel_text(*missing_port) + " and no vsock to the host; " + kAdminFix);
  }
  throw GuestError("cannot connect over " + where + ": " + why +
                   ": this VM has no vsock to the host; " + kAdminFix);
}

Transport open_unix_socket(const std::string& path) {
  sockaddr_un peer{};
  peer.sun_family = AF_UNIX;
  if (path.size() >= sizeof peer.sun_path) {
    throw GuestError("--device " + path + ": the socket path is too long");
  }
  std::memcpy(peer.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd || ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&peer), sizeof peer) != 0) {
    throw GuestError("cannot connect to " + path + ": " + std::strerror(errno));
  }
  ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) | O_NONBLOCK);
  return Transport(std::move(fd), TransportKind::unix_socket, path);
}

Transport open_port(const std::string& path, std::string_view default_port, PortOpen open) {
  UniqueFd fd(open(path.c_str(), O_RDWR | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (fd) return Transport(std::move(fd), TransportKind::virtio_serial, path);
  const int error = errno;
  if (error == EBUSY) {
    throw GuestError("another perfkvm is using the port " + path +
                     " (it can be open only once): wait until that one ends");
  }
  if (error == ENOENT && path == default_port) {
    throw GuestError(no_channel_text(default_port) + "; " + kAdminFix);
  }
  throw GuestError("cannot open " + path + ": " + std::strerror(error));
}

Transport open_device(const std::string& path, std::string_view default_port, PortOpen open) {
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0 && S_ISSOCK(info.st_mode)) return open_unix_socket(path);
  return open_port(path, default_port, open);
}

}  // namespace

int open_port_file(const char* path, int flags) { return ::open(path, flags); }

Transport::Transport(UniqueFd fd, TransportKind kind, std::string description)
    : fd_(std::move(fd)), kind_(kind), description_(std::move(description)) {}

Transport::ReadResult Transport::read_some(std::string& into) {
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(fd_.get(), buffer, sizeof buffer);
    if (n > 0) {
      into.append(buffer, static_cast<std::size_t>(n));
      return ReadResult::data;
    }
    if (n == 0) {
      ++eof_reads_;
      return ReadResult::eof;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return ReadResult::nothing;
    error_number_ = errno;
    error_text_ = std::strerror(errno);
    return ReadResult::error;
  }
}

std::ptrdiff_t Transport::write_some(std::string_view bytes) {
  for (;;) {
    // send() on sockets, so that a vanished host gives EPIPE rather than a SIGPIPE.
    const ssize_t n = kind_ == TransportKind::virtio_serial
                          ? ::write(fd_.get(), bytes.data(), bytes.size())
                          : ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    error_number_ = errno;
    error_text_ = std::strerror(errno);
    return -1;
  }
}

Transport open_transport(const ConnectOptions& options, std::string_view default_port,
                         PortOpen open) {
  if (options.device) return open_device(*options.device, default_port, open);
  if (options.vsock) return open_vsock(*options.vsock, options.timeout(), std::nullopt);
  struct stat info {};
  const std::string port(default_port);
  if (::stat(port.c_str(), &info) == 0) return open_port(port, default_port, open);
  return open_vsock(VsockAddress{}, options.timeout(), default_port);
}

}  // namespace perfkvm::guest
