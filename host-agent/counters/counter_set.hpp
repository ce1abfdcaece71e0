// The counters of one request: every column on every vCPU thread, opened with
// perf_event_open(2), read as a table of cells (PROTOCOL.md §4).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "host-agent/counters/column_plan.hpp"
#include "host-agent/counters/perf_event.hpp"
#include "host-agent/counters/thread_watch.hpp"
#include "host-agent/threads/vcpu_threads.hpp"
#include "protocol/messages.hpp"
#include "util/unique_fd.hpp"

namespace perfkvm::host {

// When read() asks /proc whether the threads still exist (thread_watch.hpp). A per-thread
// counter stays readable after its thread exits, so the counts never depend on it; only when a
// row is reported ended, and its fds closed, does. Asking at every sample cost more than the
// counter reads themselves (a path walk and the kernel's do_task_stat per thread).
enum class PresenceCheck {
  periodic,  // at most once per kPresenceCheckPeriod (the sampling path)
  now,       // at this read (the final reading, and callers without a sampler)
  never,     // not at all: the caller learns of exits another way (the export re-resolves
             // each domain's vCPU threads), and a scrape of many domains would otherwise
             // walk /proc for every thread
};

// What the per-vCPU rows of a reading carry. A sampler that sends only the totals (an
// aggregated sample) needs each row's status, which ends the loop when every thread has
// ended, but not its counts: copying a row of cells per thread per sample, and freeing it
// unsent, was a fifth of a reading's instructions at 16 threads x 8 events (callgrind).
enum class RowCounts {
  included,  // each row's counts, one cell per column
  omitted,   // each row's vcpu and status only; the counts empty (the totals are whole)
};

struct CounterReading {
  std::vector<protocol::Cell> totals;       // one per column: sums over the vCPU rows
  std::vector<protocol::VcpuCounts> vcpus;  // one row per target, in target order
};

class CounterSet {
 public:
  // Hardware events per group: small enough for the general-purpose counters of current x86
  // and arm64 PMUs (fixed counters add room), so each group can be scheduled whole.
  static constexpr std::size_t kMaxHardwareGroup = 4;

  // Opens one counter per (thread, column), disabled until enable(). A failing counter never
  // fails the others: when a group leader fails the next event leads, and a member the group
  // refuses is retried on its own. Throws std::invalid_argument for misuse only: a tid <= 0
  // (0 would count perfkvm-hostd itself), a null event, a software column not of scope all.
  // Each column is named columns()[i].event = its CounterColumn::name().
  CounterSet(std::vector<VcpuThread> targets, std::vector<CounterColumn> columns);

  CounterSet(CounterSet&&) noexcept = default;
  CounterSet& operator=(CounterSet&&) noexcept = default;
  CounterSet(const CounterSet&) = delete;
  CounterSet& operator=(const CounterSet&) = delete;
  ~CounterSet() = default;

  // One per column, status aggregated over the threads: counted if open on at least one thread;
  // otherwise not-supported if the host cannot count it, else not-counted, with the reason.
  const std::vector<protocol::Column>& columns() const { return columns_; }

  // Resets and starts every group. Counting is cumulative from here; call it once (a second
  // call throws std::logic_error: the kernel does not reset the times, so counts would lie).
  void enable();

  // Stops every group; later reads return the same values.
  void disable();

  // How long a thread's exit may go unnoticed by periodic reads.
  static constexpr std::chrono::seconds kPresenceCheckPeriod{1};

  // The counts since enable(), scaled for multiplexing. A thread that has exited (as
  // /proc/<tid>/stat tells, see thread_watch.hpp; asked as `presence` says) is reported ended
  // with its final counts, and its counters are closed. Never fails: an unreadable counter
  // gives null cells.
  // For a per-thread counter time_enabled and time_running advance only while the thread is on
  // a CPU: a vCPU thread blocked since enable() reads [0, 0, 0].
  CounterReading read(PresenceCheck presence = PresenceCheck::now,
                      RowCounts rows = RowCounts::included);

  // Perf event fds currently open (ended threads' counters are closed).
  std::size_t open_fd_count() const;

 private:
  struct Counter {
    UniqueFd fd;
    std::size_t column = 0;
    std::uint64_t id = 0;
  };
  // counters[0] is the leader.
  struct Group {
    std::vector<Counter> counters;
  };
  struct Thread {
    VcpuThread target;
    ThreadWatch watch;
    std::vector<Group> groups;
    std::vector<protocol::Cell> cells;  // the latest reading, one per column
    bool ended = false;
  };

  // Opens `thread`'s counters; records each column's errno in errors[column][index].
  void open_thread(Thread& thread, std::size_t index,
                   const std::vector<std::vector<std::size_t>>& groups,
                   std::vector<std::vector<int>>& errors);
  void aggregate_columns(const std::vector<std::vector<int>>& errors);
  void read_thread(Thread& thread, bool check_presence);

  std::vector<CounterColumn> plan_;
  std::vector<protocol::Column> columns_;
  std::vector<Thread> threads_;
  bool enabled_ = false;
  std::chrono::steady_clock::time_point next_presence_check_{};
  // Scratch for read(): kept between readings so that sampling does not allocate per group.
  std::vector<std::uint64_t> read_words_;
  GroupReading group_reading_;
};

}  // namespace perfkvm::host
