// --pin's and --isolate's affinity work: the vCPU list text, the scan for user tasks (a fixture
// /proc), and the isolation itself on processes this test starts (never on the machine's other
// tasks).
#include <doctest/doctest.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "guest-agent/cpu_isolation.hpp"
#include "guest-agent/cpu_pinning.hpp"
#include "guest-agent/diagnostics.hpp"
#include "test_data.hpp"

using namespace perfkvm::guest;
using perfkvm::test::data_dir;

namespace {

// A child process that sleeps until killed, with the given CPUs.
class SleepingChild {
 public:
  explicit SleepingChild(const std::vector<std::uint32_t>& cpus) {
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::pause();
      ::_exit(0);
    }
    CpuMask mask;
    for (const auto cpu : cpus) mask.set(cpu, true);
    REQUIRE(mask.apply(pid_));
  }
  ~SleepingChild() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }
  std::string cpus() const {
    CpuMask mask;
    if (!mask.read(pid_)) return "unreadable";
    std::vector<std::uint32_t> on;
    for (std::uint32_t cpu = 0; cpu < CpuMask::kMaxCpus; ++cpu) {
      if (mask.test(cpu)) on.push_back(cpu);
    }
    return vcpu_list_text(on);
  }

 private:
  pid_t pid_ = -1;
};

bool may_use_cpus_0_and_1() {
  CpuMask own;
  return own.read(0) && own.test(0) && own.test(1);
}

}  // namespace

TEST_CASE("vcpu_list_text: as --vcpu takes it, runs of three or more as ranges") {
  CHECK(vcpu_list_text({}) == "");
  CHECK(vcpu_list_text({1}) == "1");
  CHECK(vcpu_list_text({0, 1}) == "0,1");
  CHECK(vcpu_list_text({0, 1, 2, 5, 7, 8, 9, 10}) == "0-2,5,7-10");
}

TEST_CASE("user_tasks: every thread of every process, less kernel threads and the excepted") {
  const auto root = data_dir() / "guest" / "proc-tasks";
  CHECK(user_tasks(root, {400}) == std::vector<pid_t>{1, 300, 301});
  CHECK(user_tasks(root, {}) == std::vector<pid_t>{1, 300, 301, 400});
  CHECK(user_tasks(root / "missing", {}).empty());
}

TEST_CASE("VcpuIsolation moves tasks off the counted vCPUs and gives their CPUs back") {
  if (!may_use_cpus_0_and_1()) {
    std::printf("VcpuIsolation test skipped: this process may not run on both CPU 0 and CPU 1 "
                "(a one-CPU machine or a cpuset), and the test needs two\n");
    return;
  }
  std::printf("VcpuIsolation: CPUs 0 and 1 available, moving this test's own children\n");
  SleepingChild movable({0, 1});
  SleepingChild confined({1});
  SleepingChild elsewhere({0});
  pid_t gone = 0;
  {
    SleepingChild exited({0, 1});
    gone = exited.pid();
  }
  {
    const VcpuIsolation isolation({movable.pid(), confined.pid(), elsewhere.pid(), gone}, {1});
    CHECK(movable.cpus() == "0");
    CHECK(confined.cpus() == "1");  // it has nowhere else to go
    CHECK(elsewhere.cpus() == "0");
    CHECK(isolation.moved() == 1);
    CHECK(isolation.stayed() == 1);
    CHECK(isolation.summary() ==
          "moved 1 task off vCPU 1 for the run; 1 stayed (1 allowed only there)");
  }
  CHECK(movable.cpus() == "0,1");
  CHECK(confined.cpus() == "1");
  CHECK(elsewhere.cpus() == "0");
}

TEST_CASE("pin_to_vcpus: exactly the vCPUs, or a message naming them and the reason") {
  SleepingChild child({0});
  pin_to_vcpus(child.pid(), {0});
  CHECK(child.cpus() == "0");
  CHECK_THROWS_WITH_AS(pin_to_vcpus(child.pid(), {}),
                       "--pin: no vCPU is counted, so there is none to pin to", GuestError);
  CHECK_THROWS_WITH_AS(pin_to_vcpus(child.pid(), {4095}),
                       "--pin: cannot run the command on vCPU 4095: sched_setaffinity: Invalid "
                       "argument (is that CPU offline in this guest, or outside its cpuset?)",
                       GuestError);
}
