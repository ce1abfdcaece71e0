// The one answer every test layer takes its hardware expectations from: can this host count
// hardware events on a thread? Machines of this project's kind differ (most have no PMU, some
// count real cycles), so no test may assume either; each asks this probe and prints the branch
// it took (describe()).
//
// The probe asks the kernel directly, without the code under test: perf_event_open(2) with the
// kernel's generic hardware events on a busy thread of the calling process, enabled while the
// thread spins, read back with time_enabled / time_running. The e2e harness runs the same code
// as the program host_pmu_probe (on the host, and statically linked inside the guest).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace perfkvm::test {

struct HardwareEventProbe {
  std::string name;          // as perf spells it: "cycles", "instructions", "bus-cycles", ...
  bool opens = false;        // perf_event_open succeeded on the busy thread
  int error = 0;             // its errno when it did not
  std::uint64_t count = 0;   // raw count over the busy window (0 if only opened)
  std::uint64_t time_running = 0;  // ns the counter was on the PMU

  // Opened, ran, and counted something: what a counted hardware column needs.
  bool counts() const { return opens && time_running > 0 && count > 0; }
};

struct HostPmu {
  // The kernel's generic hardware events (the eight of perf's default list, the two stalled
  // cycles) and generic hardware cache events in perf's order, then the same with perf's :G
  // (exclude_host) and :H (exclude_guest) modifiers. All are opened; counted (count,
  // time_running) are the plain eight of perf's default list and, in a second pass, cycles
  // and instructions with :G and :H. Tests expect a column's status from `opens` (what hostd's open sees) and values
  // from counts().
  std::vector<HardwareEventProbe> events;
  std::uint64_t busy_ns = 0;               // CPU time the first pass's thread spun

  // The host counts both cycles and instructions on a thread: "host has a PMU".
  bool present() const;
  const HardwareEventProbe& event(std::string_view name) const;  // throws if not probed
  // "host has a PMU: cycles 41,000,000 and instructions 52,000,000 in 20 ms on a busy thread"
  // or "no PMU: cycles ENOENT, instructions ENOENT on a busy thread".
  std::string describe() const;
  // One JSON object (for the e2e harness): {"present": .., "busy_ns": .., "events": {..}}.
  std::string json() const;
};

// Probes once per process and keeps the answer.
const HostPmu& host_pmu();

// The probe itself, uncached.
HostPmu probe_host_pmu();

}  // namespace perfkvm::test
