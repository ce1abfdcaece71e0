// Starts tests/support/fake_qemu with a QEMU-like command line, so that the host agent finds
// "the domain's QEMU" and its vCPU threads in /proc. Ends it on destruction (stop() sooner).
// The one runner of the one fake QEMU, for the unit, integration and admin tests.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace perfkvm::test {

class FakeQemuProcess {
 public:
  // A domain's QEMU as libvirt starts it: -name guest=NAME,debug-threads=on -uuid UUID -smp N.
  // `spinning`: vCPU 1 spins (the others sleep); otherwise every vCPU sleeps (QEMU's -S).
  FakeQemuProcess(const std::string& name, const std::string& uuid, int vcpus = 2,
                  bool spinning = true)
      : FakeQemuProcess(domain_argv(name, uuid, vcpus, spinning)) {}

  // Any command line: argv[0] and the arguments as /proc/<pid>/cmdline will show them.
  explicit FakeQemuProcess(std::vector<std::string> args) {
    int to_child[2];
    int from_child[2];
    if (::pipe2(to_child, O_CLOEXEC) != 0 || ::pipe2(from_child, O_CLOEXEC) != 0) {
      throw std::runtime_error("pipe failed");
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, to_child[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, from_child[1], STDOUT_FILENO);
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    const int error = ::posix_spawn(&pid_, PERFKVM_FAKE_QEMU, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(to_child[0]);
    ::close(from_child[1]);
    if (error != 0) throw std::runtime_error("cannot start " PERFKVM_FAKE_QEMU);
    stdin_ = to_child[1];
    char ready = 0;
    const bool ok = ::read(from_child[0], &ready, 1) == 1 && ready == 'r';
    ::close(from_child[0]);
    if (!ok) throw std::runtime_error("fake QEMU did not start");
  }
  ~FakeQemuProcess() { stop(); }
  // Ends the process now (its stdin reaches EOF) and waits for it.
  void stop() {
    if (pid_ <= 0) return;
    ::close(stdin_);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  FakeQemuProcess(const FakeQemuProcess&) = delete;
  FakeQemuProcess& operator=(const FakeQemuProcess&) = delete;

  pid_t pid() const { return pid_; }

 private:
  static std::vector<std::string> domain_argv(const std::string& name, const std::string& uuid,
                                              int vcpus, bool spinning) {
    std::vector<std::string> args = {"qemu-system-x86_64", "-name",
                                     "guest=" + name + ",debug-threads=on", "-uuid", uuid,
                                     "-smp", std::to_string(vcpus)};
    if (!spinning) args.push_back("-S");
    return args;
  }

  pid_t pid_ = -1;
  int stdin_ = -1;
};

}  // namespace perfkvm::test
