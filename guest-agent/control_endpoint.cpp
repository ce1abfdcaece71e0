#include "guest-agent/control_endpoint.hpp"

#include <sys/epoll.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "guest-agent/diagnostics.hpp"

namespace perfkvm::guest {

namespace {

// Requests come from the workload's own processes: a handful at a time. More connections
// waiting than this are refused by the kernel until the run loop takes them.
constexpr int kBacklog = 64;
// Connections open at once; beyond it new ones are answered with an error and closed, so a
// workload that connects in a loop without writing cannot make perfkvm hold fds without bound.
constexpr std::size_t kMaxClients = 256;

[[noreturn]] void fail(const std::string& what) {
  throw GuestError("cannot create the control endpoint for " + std::string(kControlEnvironment) +
                   ": " + what + ": " + std::strerror(errno));
}

void add_to_epoll(int epoll, int fd) {
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = fd;
  if (::epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) != 0) fail("epoll_ctl");
}

void write_line(int fd, std::string_view line) {
  std::string text(line);
  text += '\n';
  // Non-blocking: an answer is a few bytes into an empty socket buffer; a client that went
  // away loses it, which is all it can lose.
  (void)::send(fd, text.data(), text.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

// The same into a fifo (opened non-blocking: a script that stopped reading acks loses them).
void write_line_to(int fd, std::string_view line) {
  std::string text(line);
  text += '\n';
  // A failed write loses the ack, as above (a (void) cast does not quiet glibc's
  // warn_unused_result under _FORTIFY_SOURCE, which Debian's package build sets).
  if (::write(fd, text.data(), text.size()) < 0) return;
}

}  // namespace

UniqueFd open_control_fifo(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd) throw GuestError("--control: cannot open " + path + ": " + std::strerror(errno));
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0 || !S_ISFIFO(info.st_mode)) {
    throw GuestError("--control: " + path + " is not a fifo (make one with mkfifo)");
  }
  return fd;
}

ControlEndpoint::ControlEndpoint() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/perfkvm-ctl.XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) fail("mkdtemp " + pattern);
  directory_ = pattern;
  path_ = directory_ + "/ctl";
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path_.size() >= sizeof address.sun_path) {
    ::rmdir(directory_.c_str());
    errno = ENAMETOOLONG;
    fail("socket path " + path_);
  }
  std::memcpy(address.sun_path, path_.c_str(), path_.size() + 1);
  listener_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!listener_ || ::bind(listener_.get(), reinterpret_cast<const sockaddr*>(&address),
                           sizeof address) != 0 ||
      ::listen(listener_.get(), kBacklog) != 0) {
    const int saved = errno;
    ::unlink(path_.c_str());
    ::rmdir(directory_.c_str());
    errno = saved;
    fail("socket " + path_);
  }
  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) fail("epoll_create1");
  add_to_epoll(epoll_.get(), listener_.get());
}

ControlEndpoint::~ControlEndpoint() {
  clients_.clear();
  listener_.reset();
  ::unlink(path_.c_str());
  ::rmdir(directory_.c_str());
}

void ControlEndpoint::watch(int fd) { add_to_epoll(epoll_.get(), fd); }

void ControlEndpoint::add_fifo(UniqueFd control, UniqueFd ack) {
  add_to_epoll(epoll_.get(), control.get());
  fifo_ = std::move(control);
  fifo_ack_ = std::move(ack);
}

void ControlEndpoint::read_fifo(std::vector<Incoming>& incoming) {
  if (!fifo_) return;
  char chunk[kMaxControlLine];
  ssize_t n = 0;
  while ((n = ::read(fifo_.get(), chunk, sizeof chunk)) > 0) {
    fifo_buffer_.append(chunk, static_cast<std::size_t>(n));
  }
  std::size_t newline = 0;
  while ((newline = fifo_buffer_.find('\n')) != std::string::npos) {
    const std::string line = fifo_buffer_.substr(0, newline);
    fifo_buffer_.erase(0, newline + 1);
    incoming.push_back(Incoming{fifo_.get(), parse_control_line(line), true});
  }
  if (fifo_buffer_.size() >= kMaxControlLine) {
    incoming.push_back(Incoming{fifo_.get(),
                                std::string("a control request is one line of at most " +
                                            std::to_string(kMaxControlLine - 1) + " bytes"),
                                true});
    fifo_buffer_.clear();
  }
}

void ControlEndpoint::accept_all() {
  for (;;) {
    UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!client) return;  // EAGAIN: none left (any other error: try at the next wake-up)
    if (clients_.size() >= kMaxClients) {
      write_line(client.get(), "error: too many control connections at once");
      continue;
    }
    add_to_epoll(epoll_.get(), client.get());
    const int fd = client.get();
    clients_.emplace(fd, Client{std::move(client), {}, false});
  }
}

std::vector<ControlEndpoint::Incoming> ControlEndpoint::take() {
  // Level-triggered: fd() stays readable until what is ready here is read.
  accept_all();
  std::vector<Incoming> incoming;
  read_fifo(incoming);
  std::vector<int> gone;
  for (auto& [fd, client] : clients_) {
    if (client.answered_line) continue;
    char chunk[kMaxControlLine];
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (n <= 0) {
      gone.push_back(fd);  // closed before saying anything whole
      continue;
    }
    client.buffer.append(chunk, static_cast<std::size_t>(n));
    const auto newline = client.buffer.find('\n');
    if (newline == std::string::npos) {
      if (client.buffer.size() >= kMaxControlLine) {
        write_line(fd, "error: a control request is one line of at most " +
                           std::to_string(kMaxControlLine - 1) + " bytes");
        gone.push_back(fd);
      }
      continue;
    }
    client.answered_line = true;
    // Taken out of the epoll set: nothing more is read from it, whatever it sends.
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    incoming.push_back(Incoming{fd, parse_control_line(
                                        std::string_view(client.buffer).substr(0, newline))});
  }
  for (const int fd : gone) clients_.erase(fd);
  return incoming;
}

void ControlEndpoint::answer(int client, std::string_view line) {
  if (fifo_ && client == fifo_.get()) {
    // perf's acknowledgement, after every command (a script may wait for it).
    if (fifo_ack_) write_line_to(fifo_ack_.get(), "ack");
    return;
  }
  const auto found = clients_.find(client);
  if (found == clients_.end()) return;
  write_line(client, line);
  clients_.erase(found);
}

}  // namespace perfkvm::guest
