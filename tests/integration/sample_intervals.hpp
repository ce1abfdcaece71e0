// The intervals between a session's samples, as the tests that attack hostd beside a sampling
// session measure them (export_test.cpp, hostile_guest_test.cpp): the comparison is of the same
// session's intervals with and without the attacker.
#pragma once

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <limits>
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

// Of none: infinite, which fails every bound.
inline double p99(std::vector<double> values) {
  if (values.empty()) return std::numeric_limits<double>::infinity();
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, values.size() * 99 / 100)];
}

}  // namespace perfkvm::test
