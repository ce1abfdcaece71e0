// The command: forked at once but held at a gate (a pipe) until the host has started
// counting, so that nothing of it runs uncounted; then released, watched, and its exit status
// turned into perfkvm's.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "util/unique_fd.hpp"

namespace perfkvm::guest {

class GatedChild {
 public:
  // Forks; the child waits at the gate, then sets `child_mask` as its signal mask and execs
  // argv (PATH is searched for argv[0]). Throws GuestError if fork or pipe fail.
  static GatedChild spawn(const std::vector<std::string>& argv, const sigset_t& child_mask);

  GatedChild(GatedChild&& other) noexcept;
  GatedChild& operator=(GatedChild&&) = delete;
  GatedChild(const GatedChild&) = delete;
  GatedChild& operator=(const GatedChild&) = delete;
  // A child still at the gate is killed: it has run nothing of the command yet. A released
  // one is left alone; perfkvm never kills the user's command on its own.
  ~GatedChild();

  pid_t pid() const { return pid_; }
  void release();
  void forward(int signal) const;

  // The wait status once the child has ended (never blocks; call it on SIGCHLD).
  std::optional<int> try_reap();
  // Blocks until the child ends and returns its wait status.
  int wait();
  // errno of a failed exec (the command could not be run), 0 if it ran. Valid once reaped.
  int exec_error() const { return exec_error_; }

 private:
  GatedChild(pid_t pid, UniqueFd gate, UniqueFd exec_errors);
  void reap(int waitpid_flags);

  pid_t pid_;
  UniqueFd gate_;         // write end: a byte releases the child; closing it aborts
  UniqueFd exec_errors_;  // read end: the child writes errno here if exec fails
  bool released_ = false;
  std::optional<int> wait_status_;
  int exec_error_ = 0;
};

// Shell convention: the exit code, or 128+N when signal N killed the process.
int exit_status_of(int wait_status);

// A shell's status for a command that could not be run: 127 not found, 126 otherwise.
int exec_failure_status(int exec_errno);

}  // namespace perfkvm::guest
