// One counting run on a set of vCPU threads, turned into protocol samples and a report:
// the engine shared by guest sessions (ChannelConnection) and `perfkvm-host stat`.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "host-agent/counters/counter_set.hpp"
#include "protocol/messages.hpp"

namespace perfkvm::host {

class Measurement {
 public:
  using Clock = std::chrono::steady_clock;

  // Opens the counters (disabled) for the events named as the user spelt them ("cycles" stays
  // "cycles" in the columns, as perf prints it). Throws std::invalid_argument for a name not
  // in the catalogue (callers check names first, to answer with the right error).
  // `per_vcpu`: samples and the report carry per-vCPU rows.
  Measurement(std::vector<VcpuTarget> targets, const std::vector<std::string>& event_names,
              protocol::StartMode mode, bool per_vcpu);

  // Resets and enables the counters; time starts now.
  void start();
  // The cumulative counts now, as the next sample (seq 1, 2, ...).
  protocol::Sample sample(const std::string& nonce, std::uint64_t request_id);
  // Disables the counters, reads them one last time and closes them.
  protocol::Report finish(const std::string& nonce, std::uint64_t request_id,
                          protocol::EndReason reason, std::uint64_t samples_dropped);

  // Closes the counters without a report (the session ended under it).
  void close() { counters_.reset(); }

  // True once every counted vCPU thread has exited (the domain stopped, or its vCPUs were
  // unplugged), as of the last sample() (which notices an exit within
  // CounterSet::kPresenceCheckPeriod) or check_threads().
  bool threads_ended() const { return threads_ended_; }
  // Reads the counters to find out whether the threads still exist (no sample taken).
  bool check_threads();

  const std::vector<protocol::Column>& columns() const { return columns_; }
  const std::vector<std::uint32_t>& vcpus() const { return vcpus_; }
  bool finished() const { return !counters_; }
  Clock::time_point started_at() const { return started_at_; }
  std::uint64_t samples_taken() const { return seq_; }
  std::size_t open_fd_count() const { return counters_ ? counters_->open_fd_count() : 0; }

 private:
  std::uint64_t elapsed_ns() const;
  void note_threads(const CounterReading& reading);

  std::optional<CounterSet> counters_;
  std::vector<protocol::Column> columns_;
  std::vector<std::uint32_t> vcpus_;
  bool per_vcpu_;
  Clock::time_point started_at_;
  std::uint64_t seq_ = 0;
  bool threads_ended_ = false;
};

}  // namespace perfkvm::host
