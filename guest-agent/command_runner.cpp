#include "guest-agent/command_runner.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "guest-agent/diagnostics.hpp"

namespace perfkvm::guest {

namespace {

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

Pipe make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    throw GuestError(std::string("cannot create a pipe: ") + std::strerror(errno));
  }
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// Runs in the forked child: only async-signal-safe calls from here on.
[[noreturn]] void run_child(int gate, int exec_errors, const sigset_t& mask, char* const* argv) {
  char go = 0;
  ssize_t n = 0;
  do {
    n = ::read(gate, &go, 1);
  } while (n < 0 && errno == EINTR);
  // No byte: perfkvm ended before the host counted. Do not run the command uncounted.
  if (n != 1) ::_exit(125);
  ::sigprocmask(SIG_SETMASK, &mask, nullptr);
  ::execvp(argv[0], argv);
  const int error = errno;
  [[maybe_unused]] const auto ignored = ::write(exec_errors, &error, sizeof error);
  ::_exit(exec_failure_status(error));
}

}  // namespace

GatedChild GatedChild::spawn(const std::vector<std::string>& argv, const sigset_t& child_mask) {
  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  Pipe gate = make_pipe();
  Pipe exec_errors = make_pipe();
  const pid_t pid = ::fork();
  if (pid < 0) throw GuestError(std::string("cannot fork: ") + std::strerror(errno));
  if (pid == 0) {
    // Without its own copy of the write end, the gate sees EOF if perfkvm dies.
    ::close(gate.write.release());
    ::close(exec_errors.read.release());
    run_child(gate.read.get(), exec_errors.write.get(), child_mask, args.data());
  }
  return GatedChild(pid, std::move(gate.write), std::move(exec_errors.read));
}

GatedChild::GatedChild(pid_t pid, UniqueFd gate, UniqueFd exec_errors)
    : pid_(pid), gate_(std::move(gate)), exec_errors_(std::move(exec_errors)) {}

GatedChild::GatedChild(GatedChild&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      gate_(std::move(other.gate_)),
      exec_errors_(std::move(other.exec_errors_)),
      released_(other.released_),
      wait_status_(other.wait_status_),
      exec_error_(other.exec_error_) {}

GatedChild::~GatedChild() {
  if (pid_ <= 0 || released_ || wait_status_) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
}

void GatedChild::release() {
  const char go = 'g';
  if (::write(gate_.get(), &go, 1) != 1) {
    throw GuestError(std::string("cannot start the command: ") + std::strerror(errno));
  }
  gate_.reset();
  released_ = true;
}

void GatedChild::forward(int signal) const {
  if (!wait_status_) ::kill(pid_, signal);
}

std::optional<int> GatedChild::try_reap() {
  if (!wait_status_) reap(WNOHANG);
  return wait_status_;
}

int GatedChild::wait() {
  while (!wait_status_) reap(0);
  return *wait_status_;
}

void GatedChild::reap(int flags) {
  int status = 0;
  pid_t got = 0;
  do {
    got = ::waitpid(pid_, &status, flags);
  } while (got < 0 && errno == EINTR);
  if (got < 0)
    throw GuestError(std::string("cannot wait for the command: ") + std::strerror(errno));
  if (got != pid_) return;
  wait_status_ = status;
  // The child has exited, so its end of the pipe is closed: this read cannot block.
  int error = 0;
  if (::read(exec_errors_.get(), &error, sizeof error) == static_cast<ssize_t>(sizeof error)) {
    exec_error_ = error;
  }
}

int exit_status_of(int wait_status) {
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return WEXITSTATUS(wait_status);
}

int exec_failure_status(int exec_errno) { return exec_errno == ENOENT ? 127 : 126; }

}  // namespace perfkvm::guest
