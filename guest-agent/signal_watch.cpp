#include "guest-agent/signal_watch.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "guest-agent/diagnostics.hpp"

namespace perfkvm::guest {

namespace {

sigset_t watched_signals() {
  sigset_t set;
  sigemptyset(&set);
  // SIGPIPE too: a report written to a closed pipe (perfkvm ... 2>&1 | head) must fail as a
  // write (EPIPE, reported) rather than kill perfkvm and lose the command's exit status. The
  // command itself runs with the original mask.
  for (const int signal : {SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGPIPE}) sigaddset(&set, signal);
  return set;
}

}  // namespace

SignalWatch::SignalWatch() {
  const sigset_t set = watched_signals();
  if (sigprocmask(SIG_BLOCK, &set, &original_mask_) != 0) {
    throw GuestError(std::string("cannot block signals: ") + std::strerror(errno));
  }
  fd_.reset(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!fd_) {
    const int error = errno;
    sigprocmask(SIG_SETMASK, &original_mask_, nullptr);
    throw GuestError(std::string("cannot watch signals (signalfd): ") + std::strerror(error));
  }
}

SignalWatch::~SignalWatch() {
  // Signals left unread arrived after the command ended; perfkvm has reported and is about
  // to return the command's status, which a default SIGINT action would replace.
  take();
  fd_.reset();
  sigprocmask(SIG_SETMASK, &original_mask_, nullptr);
}

std::vector<signalfd_siginfo> SignalWatch::take() {
  std::vector<signalfd_siginfo> signals;
  signalfd_siginfo info{};
  while (::read(fd_.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
    signals.push_back(info);
  }
  return signals;
}

bool should_forward(const signalfd_siginfo& info) {
  const int signal = static_cast<int>(info.ssi_signo);
  if (signal != SIGINT && signal != SIGTERM && signal != SIGHUP) return false;
  return info.ssi_code != SI_KERNEL;
}

}  // namespace perfkvm::guest
