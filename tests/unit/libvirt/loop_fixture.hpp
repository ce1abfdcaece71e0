// Shared pieces of the event loop tests. Each test builds its own LibvirtEventLoop: libvirt's
// hooks are registered once per process and forward to whichever loop is alive.
#pragma once

#include <fcntl.h>
#include <libvirt/libvirt.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <stdexcept>

#include "host-agent/libvirt/event_loop.hpp"
#include "util/unique_fd.hpp"

namespace perfkvm::test {

using namespace std::chrono_literals;

// An io_context that a work guard keeps from running out of work (so run_for always runs for
// its whole duration) and the loop on it; destroyed loop first, io_context last.
struct LoopFixture {
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work =
      boost::asio::make_work_guard(io);
  host::LibvirtEventLoop loop{io};

  void run_for(std::chrono::milliseconds duration) { io.run_for(duration); }

  // Runs handlers until done() holds; false if it still does not after `limit`.
  template <typename Done>
  bool run_until(Done done, std::chrono::milliseconds limit = 3s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return false;
      io.run_one_for(deadline - now);
    }
    return true;
  }
};

struct Pipe {
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) throw std::runtime_error("pipe2 failed");
    read.reset(fds[0]);
    write.reset(fds[1]);
  }
  UniqueFd read;
  UniqueFd write;
};

inline bool write_byte(int fd) {
  const char byte = 'x';
  return ::write(fd, &byte, 1) == 1;
}

// Records what libvirt's free callback (ff) sees.
struct FreeCount {
  int frees = 0;
};

template <typename Probe>
void count_free(void* opaque) {
  ++static_cast<Probe*>(opaque)->frees;
}

}  // namespace perfkvm::test
