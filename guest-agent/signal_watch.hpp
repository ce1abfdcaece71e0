// The signals perfkvm acts on while a command runs, read from a signalfd so that one poll()
// sees them beside the host's messages: SIGCHLD (the command ended) and SIGINT, SIGTERM,
// SIGHUP (to forward to the command, after which its counts up to then are still reported).
#pragma once

#include <signal.h>
#include <sys/signalfd.h>

#include <vector>

#include "util/unique_fd.hpp"

namespace perfkvm::guest {

class SignalWatch {
 public:
  // Blocks the signals in this (single-threaded) process and opens the signalfd.
  SignalWatch();
  // Discards signals not taken, and unblocks them again.
  ~SignalWatch();
  SignalWatch(const SignalWatch&) = delete;
  SignalWatch& operator=(const SignalWatch&) = delete;

  int fd() const { return fd_.get(); }
  // The mask from before: what the command must start with.
  const sigset_t& original_mask() const { return original_mask_; }

  // The signals that arrived since the last call (none if there are none; never blocks).
  std::vector<signalfd_siginfo> take();

 private:
  sigset_t original_mask_{};
  UniqueFd fd_;
};

// A terminal's Ctrl-C (or hangup) goes to the whole foreground process group, which includes
// the command: forwarding it as well would deliver it twice (many programs treat a second
// SIGINT as "quit now"). Only signals sent to perfkvm alone (kill, timeout(1)) are forwarded.
bool should_forward(const signalfd_siginfo& info);

}  // namespace perfkvm::guest
