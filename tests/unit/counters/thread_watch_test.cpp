// /proc/<tid>/stat parsing, one subcase per fixture:
//   tests/data/counters/stat/NAME.stat    a stat file's contents
//   tests/data/counters/stat/NAME.expect  "STATE STARTTIME" (e.g. "S 154892"), or "invalid"
// and ThreadWatch on real threads.
#include "host-agent/counters/thread_watch.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "test_data.hpp"
#include "tests/support/vcpu_thread.hpp"

using perfkvm::host::parse_task_stat;
using perfkvm::host::ThreadPresence;
using perfkvm::host::ThreadWatch;

namespace {

// Beyond pid_max no thread can exist.
pid_t impossible_tid() {
  std::ifstream in("/proc/sys/kernel/pid_max");
  long pid_max = 0;
  in >> pid_max;
  REQUIRE_MESSAGE(pid_max > 0, "cannot read /proc/sys/kernel/pid_max");
  return static_cast<pid_t>(pid_max + 1);
}

// A thread's /proc entry goes a moment after pthread_join returns (join waits for the tid to be
// cleared, which the kernel does before it finishes the exit).
ThreadPresence wait_while_alive(const ThreadWatch& watch) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  auto presence = watch.check();
  while (presence == ThreadPresence::alive && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    presence = watch.check();
  }
  return presence;
}

}  // namespace

TEST_CASE("parse_task_stat fixtures") {
  const auto dir = perfkvm::test::data_dir() / "counters" / "stat";
  for (const auto& path : perfkvm::test::fixtures(dir, ".stat")) {
    SUBCASE(path.filename().c_str()) {
      auto expect_path = path;
      expect_path.replace_extension(".expect");
      const std::string expected = perfkvm::test::chomp(perfkvm::test::read_file(expect_path));
      const auto stat = parse_task_stat(perfkvm::test::read_file(path));
      if (expected == "invalid") {
        CHECK_FALSE(stat);
      } else {
        REQUIRE(stat);
        CHECK(std::string(1, stat->state) + " " + std::to_string(stat->start_time) == expected);
      }
    }
  }
}

TEST_CASE("ThreadWatch: alive while the thread runs, exited once it is gone") {
  auto vcpu = std::make_unique<perfkvm::test::VcpuThread>("CPU 0/KVM");
  const ThreadWatch watch(vcpu->tid());
  CHECK(watch.check() == ThreadPresence::alive);
  vcpu->quit();
  CHECK(wait_while_alive(watch) == ThreadPresence::exited);
  // A watch made after the thread is gone knows it at once.
  CHECK(ThreadWatch(vcpu->tid()).check() == ThreadPresence::exited);
  CHECK(ThreadWatch(impossible_tid()).check() == ThreadPresence::exited);
}
