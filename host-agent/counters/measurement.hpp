// One counting run on a set of vCPU threads: the engine that guest sessions (ChannelConnection)
// and `perfkvm-host stat` share. It knows counts and time only; each caller turns its readings
// into its own output (protocol samples and reports, addressed to a session; stat's lines).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "host-agent/counters/column_plan.hpp"
#include "host-agent/counters/counter_set.hpp"
#include "host-agent/threads/vcpu_threads.hpp"
#include "protocol/messages.hpp"

namespace perfkvm::host {

// The counts since Measurement::start(), scaled for multiplexing; each cell carries its
// time_enabled and time_running.
struct MeasurementReading {
  std::uint64_t elapsed_ns = 0;             // since start(), when the counters were read
  std::vector<protocol::Cell> totals;       // one per column: sums over the vCPU rows
  std::vector<protocol::VcpuCounts> vcpus;  // one row per counted vCPU, in vcpus() order

  // Every counted vCPU thread has exited (the domain stopped, or its vCPUs were unplugged):
  // these counts are final.
  bool threads_ended() const;
};

class Measurement {
 public:
  using Clock = std::chrono::steady_clock;

  // Opens the counters, disabled: every column of `plan` (plan_named_columns) on every thread.
  // Throws std::invalid_argument as CounterSet does (a tid <= 0, a malformed plan).
  Measurement(std::vector<VcpuThread> threads, std::vector<CounterColumn> plan);

  // Resets and enables the counters; time starts now.
  void start();
  // The counts now. A thread's exit is noticed as `presence` says: by default within
  // CounterSet::kPresenceCheckPeriod, as asking /proc at every reading would cost more than
  // the reading (the sampling path). The rows carry their counts as `rows` says.
  MeasurementReading read(PresenceCheck presence = PresenceCheck::periodic,
                          RowCounts rows = RowCounts::included);
  // Disables the counters, reads them one last time (every thread's presence asked now) and
  // closes them.
  MeasurementReading finish();
  // Closes the counters without a last reading (the session ended under it).
  void close() { counters_.reset(); }

  // Asks /proc now whether every counted thread has exited, for a caller that takes no
  // readings (a request without samples); false once finished.
  bool check_threads();

  // One per column of the plan, named as it was spelt, with the status the open found.
  const std::vector<protocol::Column>& columns() const { return columns_; }
  const std::vector<std::uint32_t>& vcpus() const { return vcpus_; }
  bool finished() const { return !counters_; }
  Clock::time_point started_at() const { return started_at_; }
  std::size_t open_fd_count() const { return counters_ ? counters_->open_fd_count() : 0; }

 private:
  std::uint64_t elapsed_ns() const;

  std::optional<CounterSet> counters_;
  std::vector<protocol::Column> columns_;
  std::vector<std::uint32_t> vcpus_;
  Clock::time_point started_at_;
};

}  // namespace perfkvm::host
