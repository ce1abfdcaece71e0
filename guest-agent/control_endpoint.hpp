// The endpoint PERFKVM_CTL names: a unix stream socket in a directory of its own (mode 0700
// under $TMPDIR or /tmp), removed when the run ends. Each connection carries one request line
// and gets one answer line (control_line.hpp). Everything it waits on is gathered in one epoll
// descriptor, with the other descriptors the run loop hands it (the signalfd), so that the
// loop's one poll() of the host link sees them all.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "guest-agent/control_line.hpp"
#include "util/unique_fd.hpp"

namespace perfkvm::guest {

class ControlEndpoint {
 public:
  // Creates the directory and the listening socket; throws GuestError saying what failed.
  ControlEndpoint();
  ~ControlEndpoint();
  ControlEndpoint(const ControlEndpoint&) = delete;
  ControlEndpoint& operator=(const ControlEndpoint&) = delete;

  const std::string& path() const { return path_; }
  // Readable when a connection, a request or a watched descriptor is ready.
  int fd() const { return epoll_.get(); }
  // Another descriptor that makes fd() readable (the caller reads it).
  void watch(int fd);
  // perf's --control fifo:CTL[,ACK]: request lines from `control` (many, one after another),
  // and "ack" to `ack` (if open) once each is settled, whatever its outcome.
  void add_fifo(UniqueFd control, UniqueFd ack);

  struct Incoming {
    int client = -1;  // to answer()
    std::variant<ControlRequest, std::string> request;  // or why the line is not one
    bool from_fifo = false;  // its answer is only an "ack": the caller reports errors itself
  };
  // New connections accepted and the request lines complete so far; never blocks.
  std::vector<Incoming> take();
  // Sends the answer line ("ok", "error: ...") and closes the connection; for the fifo,
  // writes "ack" instead.
  void answer(int client, std::string_view line);
  std::size_t open_clients() const { return clients_.size(); }

 private:
  struct Client {
    UniqueFd fd;
    std::string buffer;
    bool answered_line = false;  // its request was taken; waiting for answer()
  };
  void accept_all();
  void read_fifo(std::vector<Incoming>& incoming);

  std::string directory_;
  std::string path_;
  UniqueFd listener_;
  UniqueFd epoll_;
  std::map<int, Client> clients_;
  UniqueFd fifo_;  // --control: read for as long as the run lasts
  UniqueFd fifo_ack_;
  std::string fifo_buffer_;
};

// One of --control's fifos, opened read-write and non-blocking (so that neither the open nor a
// writer closing its end ever blocks or ends it). Throws GuestError unless `path` is a fifo.
UniqueFd open_control_fifo(const std::string& path);

}  // namespace perfkvm::guest
