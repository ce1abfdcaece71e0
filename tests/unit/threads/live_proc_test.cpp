// Against the real /proc: this process's own threads named like vCPUs, and a child process
// whose command line looks like a libvirt domain's QEMU.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <latch>
#include <random>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "fake_qemu_process.hpp"
#include "host-agent/threads/vcpu_threads.hpp"
#include "util/unique_fd.hpp"

extern char** environ;

using namespace perfkvm::host;
using perfkvm::test::FakeQemuProcess;

namespace {

// Threads that name themselves, then wait until the object is destroyed.
class NamedThreads {
 public:
  explicit NamedThreads(const std::vector<std::string>& names)
      : named_(static_cast<std::ptrdiff_t>(names.size())), tids_(names.size()), rename_errors_(0) {
    for (std::size_t i = 0; i < names.size(); ++i) {
      threads_.emplace_back([this, i, name = names[i]] {
        tids_[i] = gettid();
        if (pthread_setname_np(pthread_self(), name.c_str()) != 0) ++rename_errors_;
        named_.count_down();
        release_.wait();
      });
    }
    named_.wait();
  }
  ~NamedThreads() {
    release_.count_down();
    for (auto& thread : threads_) thread.join();
  }
  NamedThreads(const NamedThreads&) = delete;
  NamedThreads& operator=(const NamedThreads&) = delete;

  pid_t tid(std::size_t i) const { return tids_[i]; }
  int rename_errors() const { return rename_errors_; }

 private:
  std::latch named_;
  std::latch release_{1};
  std::vector<pid_t> tids_;
  std::atomic<int> rename_errors_;
  std::vector<std::thread> threads_;
};

class TempDir {
 public:
  TempDir()
      : path_(std::filesystem::temp_directory_path() /
              ("perfkvm-threads-test-" + std::to_string(getpid()))) {
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A fresh version-4 UUID, so no real QEMU on the machine can match it.
std::string random_uuid() {
  std::random_device random;
  std::string uuid;
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) uuid += '-';
    const unsigned digit = i == 12 ? 4 : (i == 16 ? 8 + random() % 4 : random() % 16);
    uuid += "0123456789abcdef"[digit];
  }
  return uuid;
}

void write_pid_file(const std::filesystem::path& path, pid_t pid) {
  std::ofstream out(path);
  out << pid << '\n';
  REQUIRE(out.good());
}

}  // namespace

TEST_CASE("find_vcpu_threads on this process: exactly the threads named like vCPUs") {
  const NamedThreads threads({"CPU 1/KVM", "worker", "CPU 0/KVM"});
  REQUIRE(threads.rename_errors() == 0);
  const std::vector<VcpuThread> expected = {{0, threads.tid(2)}, {1, threads.tid(0)}};
  CHECK(find_vcpu_threads(HostPaths{"/proc"}, getpid()) == expected);
}

TEST_CASE("find_qemu_pid on the real /proc, by pid file and by scan") {
  const TempDir run_dir;
  const HostPaths paths{"/proc", run_dir.path()};
  const std::string name = "perfkvm-test-" + std::to_string(getpid());
  const std::string uuid = random_uuid();
  FakeQemuProcess qemu(std::vector<std::string>{"/usr/bin/qemu-system-x86_64", "-name", "guest=" + name + ",debug-threads=on",
                 "-S", "-uuid", uuid, "-no-user-config", "-nodefaults"});
  const auto pid_file = run_dir.path() / (name + ".pid");

  SUBCASE("no pid file: found by scanning /proc") {
    const auto lookup = locate_qemu_process(paths, name, uuid);
    CHECK(lookup.pid == qemu.pid());
    CHECK(lookup.source == "cmdline-scan");
  }
  SUBCASE("pid file") {
    write_pid_file(pid_file, qemu.pid());
    const auto lookup = locate_qemu_process(paths, name, uuid);
    CHECK(lookup.pid == qemu.pid());
    CHECK(lookup.source == "pid-file");
    CHECK(lookup.pid_file_problem.empty());
  }
  SUBCASE("pid file naming another process") {
    write_pid_file(pid_file, getpid());
    const auto lookup = locate_qemu_process(paths, name, uuid);
    CHECK(lookup.pid == qemu.pid());
    CHECK(lookup.source == "cmdline-scan");
    CHECK(lookup.pid_file_problem.find("which is not this domain's QEMU") != std::string::npos);
  }
  SUBCASE("pid file that is a directory") {
    std::filesystem::create_directory(pid_file);
    const auto lookup = locate_qemu_process(paths, name, uuid);
    CHECK(lookup.pid == qemu.pid());
    CHECK(lookup.pid_file_problem == "cannot read pid file " + pid_file.string() + ": " +
                                         std::generic_category().message(EISDIR));
  }
  SUBCASE("pid file that is a FIFO: no hang") {
    REQUIRE(mkfifo(pid_file.c_str(), 0600) == 0);
    const auto lookup = locate_qemu_process(paths, name, uuid);
    CHECK(lookup.pid == qemu.pid());
    CHECK(lookup.pid_file_problem.find("holds '', not a process id") != std::string::npos);
  }
  SUBCASE("after the process exits") {
    write_pid_file(pid_file, qemu.pid());
    qemu.stop();
    const auto resolution = resolve_vcpu_threads(paths, name, uuid, {});
    CHECK_FALSE(resolution.qemu_pid.has_value());
    CHECK(resolution.problem.find("which no longer exists") != std::string::npos);
  }
}
