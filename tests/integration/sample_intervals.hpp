// The intervals between a session's samples, as the tests that attack hostd beside a sampling
// session measure them (export_test.cpp, hostile_guest_test.cpp): the comparison is of the same
// session's intervals with and without the attacker.
#pragma once

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <fstream>
#include <limits>
#include <thread>
#include <vector>

namespace perfkvm::test {

// How long the calling thread has been runnable but waiting for a CPU, in ns: the second field
// of its schedstat, which the kernel keeps for every thread (0 where it does not).
inline std::uint64_t cpu_wait_ns() {
  std::ifstream schedstat("/proc/thread-self/schedstat");
  std::uint64_t running = 0, waiting = 0;
  schedstat >> running >> waiting;
  return waiting;
}

// Intervals in ms, from the host's own elapsed times: as they were, and less the time hostd's
// thread spent waiting for a CPU meanwhile. On an idle machine the two are the same. On a busy
// one (other builds beside the test) hostd's thread, kept busy by an attack, waits for the CPU
// longer than when it only wakes for a timer, which would show in the intervals whatever hostd
// did; what hostd's own work delays (handlers that run long, or block) stays in the second.
struct Intervals {
  std::vector<double> raw, own;
  void add(double gap_ms, double cpu_waited_ms) {
    raw.push_back(gap_ms);
    own.push_back(gap_ms - cpu_waited_ms);
  }
  void add(const Intervals& more) {
    raw.insert(raw.end(), more.raw.begin(), more.raw.end());
    own.insert(own.end(), more.own.begin(), more.own.end());
  }
};

// How much later than in the quiet phases an attacked phase's p99 interval may be: 5 ms, and
// three times that in a sanitizer build, where hostd's own code runs unoptimised and
// instrumented (several times slower per frame it handles), while the kernel, Boost.JSON's
// library and the timer it competes with are not.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr double kAttackDelayBoundMs = 15.0;
inline constexpr const char* kAttackDelayBuild = "sanitizer build: 15 ms";
#else
inline constexpr double kAttackDelayBoundMs = 5.0;
inline constexpr const char* kAttackDelayBuild = "optimised build: 5 ms";
#endif

// Every CPU kept busy at the lowest priority there is (SCHED_IDLE), for as long as it lives.
// On a virtual machine the hypervisor takes time from busy vCPUs (steal: 5 to 8 % of both CPUs
// here while an attack runs, against almost none when idle), and a stolen slice stretches
// whatever interval it falls into as if hostd had done the work. An attack keeps both CPUs busy
// and a quiet phase does not, so without this the attacked phases alone would carry the
// hypervisor's delays. SCHED_IDLE threads take a CPU only when nothing else wants it: hostd's
// thread and the attacker run as before, the vCPUs are busy in both phases alike.
class BusyBackground {
 public:
  BusyBackground() {
    const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < cpus; ++i) {
      threads_.emplace_back([this] {
        sched_param lowest{};
        lowest.sched_priority = 0;
        started_ += sched_setscheduler(0, SCHED_IDLE, &lowest) == 0 ? 1 : 0;
        while (!stop_.load(std::memory_order_relaxed)) {
        }
      });
    }
  }
  BusyBackground(const BusyBackground&) = delete;
  BusyBackground& operator=(const BusyBackground&) = delete;
  ~BusyBackground() {
    stop_ = true;
    for (auto& thread : threads_) thread.join();
  }
  // How many of the threads run at SCHED_IDLE (a test says so if not all do).
  int idle_priority_threads() const { return started_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> started_{0};
  std::vector<std::thread> threads_;
};

// Of none: infinite, which fails every bound.
inline double p99(std::vector<double> values) {
  if (values.empty()) return std::numeric_limits<double>::infinity();
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, values.size() * 99 / 100)];
}

}  // namespace perfkvm::test
