// Starts tests/integration/fake_qemu with a libvirt-like QEMU command line, so that the host
// agent finds "the domain's QEMU" and its vCPU threads in /proc. Ends it on destruction.
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
  // `spinning`: vCPU 1 spins (the others sleep); otherwise every vCPU sleeps (QEMU's -S).
  FakeQemuProcess(const std::string& name, const std::string& uuid, int vcpus = 2,
                  bool spinning = true) {
    int to_child[2];
    int from_child[2];
    if (::pipe2(to_child, O_CLOEXEC) != 0 || ::pipe2(from_child, O_CLOEXEC) != 0) {
      throw std::runtime_error("pipe failed");
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, to_child[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, from_child[1], STDOUT_FILENO);
    std::vector<std::string> args = {"qemu-system-x86_64", "-name",
                                     "guest=" + name + ",debug-threads=on", "-uuid", uuid,
                                     "-smp", std::to_string(vcpus)};
    if (!spinning) args.push_back("-S");
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
  ~FakeQemuProcess() {
    ::close(stdin_);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  FakeQemuProcess(const FakeQemuProcess&) = delete;
  FakeQemuProcess& operator=(const FakeQemuProcess&) = delete;

  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
};

}  // namespace perfkvm::test
