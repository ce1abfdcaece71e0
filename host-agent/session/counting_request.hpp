// A session's counting request: its measurement, its sample timer, its share of the host's
// counters, and its readings addressed as the protocol sends them (PROTOCOL.md §5: sample
// numbering, dropped samples, the per-vCPU rows only when asked for). Shared with its sampler
// coroutine, which may still be suspended on the timer after the request ended.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "host-agent/counters/measurement.hpp"
#include "host-agent/session/counter_budget.hpp"
#include "protocol/messages.hpp"
#include "util/token_bucket.hpp"

namespace perfkvm::host {

class CountingRequest {
 public:
  // What the request holds of the budgets while its counters are open.
  struct Shares {
    CounterBudget::Share host_counters;
    CounterBudget::Share domain_counters;
    CounterBudget::Share domain_reads;  // its counter reads a second
  };

  // `measurement` not yet started. `reads_per_second`: the pace of the guest's reads (below).
  CountingRequest(boost::asio::any_io_executor executor, const protocol::Start& start,
                  Measurement measurement, Shares shares, std::uint32_t reads_per_second);

  std::uint64_t id() const { return start_.request_id; }
  // What the guest asked for: a policy change checks it again (session_policy.hpp).
  const protocol::Start& start() const { return start_; }
  // None: no samples, only the report.
  const std::optional<std::chrono::milliseconds>& interval() const { return interval_; }
  // Whether its samples carry per-vCPU rows (else the totals only).
  bool per_vcpu() const { return per_vcpu_; }
  Measurement& measurement() { return measurement_; }
  const Measurement& measurement() const { return measurement_; }
  boost::asio::steady_timer& timer() { return timer_; }

  // `reading` as this request's next sample (seq 1, 2, ...) to the session `nonce`.
  protocol::Sample sample(const std::string& nonce, MeasurementReading reading);
  // A sample the guest will not get (the outbox was full): the report counts it.
  void sample_dropped() { ++samples_dropped_; }
  // A sample that was due but not even read, since the guest would not get it: it has its seq
  // (the guest sees the gap) and is counted as dropped.
  void sample_skipped() {
    ++samples_taken_;
    ++samples_dropped_;
  }

  // A read (protocol 2) costs what a sample costs, on the guest's demand: reads are paced as
  // if they were samples at the host's shortest interval (bursts of a second's worth). Zero
  // while within the pace, else how long the guest should wait (rate-limited).
  std::chrono::milliseconds read_delay(std::chrono::steady_clock::time_point now) const;
  // `reading`, taken now, as the answer to the guest's read `read_id`: a sample that takes no
  // seq of its own (it carries the last interval sample's).
  protocol::Sample read_answer(const std::string& nonce, MeasurementReading reading,
                               std::uint64_t read_id, std::chrono::steady_clock::time_point now);

  // Stops sampling, finishes the measurement and gives its counters back to the budget: the
  // report to the session `nonce`.
  protocol::Report finish(const std::string& nonce, protocol::EndReason reason);
  // The same without a report (the session ended under the request).
  void close();

 private:
  protocol::Start start_;
  std::optional<std::chrono::milliseconds> interval_;
  bool per_vcpu_;
  Measurement measurement_;
  boost::asio::steady_timer timer_;
  std::uint64_t samples_taken_ = 0;
  std::uint64_t samples_dropped_ = 0;
  Shares shares_;  // given back when the request's counters close
  TokenBucket reads_;
};

}  // namespace perfkvm::host
