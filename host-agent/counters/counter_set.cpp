#include "host-agent/counters/counter_set.hpp"

#include <algorithm>
#include <cerrno>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace perfkvm::host {
namespace {

using protocol::ColumnStatus;

constexpr int kOpened = 0;  // in the errors table: the counter is open

std::uint64_t add_saturating(std::uint64_t a, std::uint64_t b) {
  constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
  return a > kMax - b ? kMax : a + b;
}

void validate(const std::vector<VcpuThread>& targets, const std::vector<CounterColumn>& columns) {
  for (const auto& column : columns) {
    if (column.event == nullptr) throw std::invalid_argument("CounterSet: column without event");
    if (column.event->kind == protocol::EventKind::software &&
        column.scope != protocol::Scope::all) {
      throw std::invalid_argument("CounterSet: software event '" + std::string(column.event->name) +
                                  "' must have scope all");
    }
  }
  for (const auto& target : targets) {
    if (target.tid <= 0) {
      throw std::invalid_argument("CounterSet: vCPU " + std::to_string(target.vcpu) +
                                  " has invalid thread id " + std::to_string(target.tid));
    }
  }
}

}  // namespace

CounterSet::CounterSet(std::vector<VcpuThread> targets, std::vector<CounterColumn> columns)
    : plan_(std::move(columns)) {
  validate(targets, plan_);
  const auto groups = plan_groups(plan_, kMaxHardwareGroup);
  // errors[column][thread]: kOpened or the errno of the failed open.
  std::vector<std::vector<int>> errors(plan_.size(), std::vector<int>(targets.size(), kOpened));
  threads_.reserve(targets.size());
  for (const auto& target : targets) {
    threads_.push_back(Thread{
        target, ThreadWatch(target.tid), {}, std::vector<protocol::Cell>(plan_.size()), false});
    open_thread(threads_.back(), threads_.size() - 1, groups, errors);
  }
  aggregate_columns(errors);
}

void CounterSet::open_thread(Thread& thread, std::size_t index,
                             const std::vector<std::vector<std::size_t>>& groups,
                             std::vector<std::vector<int>>& errors) {
  const pid_t tid = thread.target.tid;
  bool any_opened = false;
  bool thread_gone = false;

  // Takes an opened fd into a counter, or gives the errno of fetching its id.
  auto make_counter = [](OpenedEvent& opened, std::size_t column) -> std::optional<Counter> {
    const auto id = event_id(opened.fd.get());
    if (!id) {
      opened.error = errno;
      return std::nullopt;
    }
    return Counter{std::move(opened.fd), column, *id};
  };

  for (const auto& planned : groups) {
    Group group;
    for (const std::size_t column : planned) {
      const CounterColumn& wanted = plan_[column];
      if (!group.counters.empty()) {
        OpenedEvent member = open_event(make_attr(*wanted.event, wanted.scope, false), tid,
                                        group.counters.front().fd.get());
        if (member.fd) {
          if (auto counter = make_counter(member, column)) {
            group.counters.push_back(std::move(*counter));
            any_opened = true;
            continue;
          }
        }
        // Not as a member: a group may refuse an event it could count alone (e.g. the group
        // would no longer fit the PMU), so the event gets a group of its own below.
      }
      OpenedEvent alone = open_event(make_attr(*wanted.event, wanted.scope, true), tid, -1);
      std::optional<Counter> counter;
      if (alone.fd) counter = make_counter(alone, column);
      if (!counter) {
        errors[column][index] = alone.error;
        thread_gone = thread_gone || alone.error == ESRCH;
        continue;
      }
      any_opened = true;
      if (group.counters.empty()) {
        group.counters.push_back(std::move(*counter));  // the first event that opens leads
      } else {
        Group own;
        own.counters.push_back(std::move(*counter));
        thread.groups.push_back(std::move(own));
      }
    }
    if (!group.counters.empty()) thread.groups.push_back(std::move(group));
  }
  // A thread that was gone before anything could be opened has ended, with no counts.
  thread.ended = !any_opened && thread_gone;
}

void CounterSet::aggregate_columns(const std::vector<std::vector<int>>& errors) {
  columns_.clear();
  columns_.reserve(plan_.size());
  for (std::size_t c = 0; c < plan_.size(); ++c) {
    const CounterColumn& planned = plan_[c];
    protocol::Column column;
    column.event = std::string(planned.name());
    column.scope = planned.scope;
    column.status = ColumnStatus::counted;

    const auto& per_thread = errors[c];
    const bool counted_somewhere =
        std::find(per_thread.begin(), per_thread.end(), kOpened) != per_thread.end();
    if (threads_.empty()) {
      column.status = ColumnStatus::not_counted;
      column.reason = "no vCPU threads to count";
    } else if (!counted_somewhere) {
      // Prefer "the host cannot count this" over a failure of one thread.
      std::optional<OpenFailure> chosen;
      for (std::size_t t = 0; t < per_thread.size(); ++t) {
        OpenFailure failure = describe_open_error(per_thread[t], *planned.event, planned.scope,
                                                  threads_[t].target.tid);
        const bool better = !chosen || (failure.status == ColumnStatus::not_supported &&
                                        chosen->status != ColumnStatus::not_supported);
        if (better) chosen = std::move(failure);
      }
      column.status = chosen->status;
      column.reason = std::move(chosen->reason);
    }
    columns_.push_back(std::move(column));
  }
}

void CounterSet::enable() {
  if (enabled_) throw std::logic_error("CounterSet::enable called twice");
  enabled_ = true;
  // A failing ioctl leaves that group's time_running at 0, which reads as "not counted";
  // nothing else to do about it here.
  for (auto& thread : threads_) {
    for (auto& group : thread.groups) {
      const int leader = group.counters.front().fd.get();
      group_ioctl(leader, PERF_EVENT_IOC_RESET);
      group_ioctl(leader, PERF_EVENT_IOC_ENABLE);
    }
  }
}

void CounterSet::disable() {
  for (auto& thread : threads_) {
    for (auto& group : thread.groups)
      group_ioctl(group.counters.front().fd.get(), PERF_EVENT_IOC_DISABLE);
  }
}

void CounterSet::read_thread(Thread& thread, bool check_presence) {
  if (thread.ended) return;
  // Checked before reading: if the thread had exited by now, what we read next is final.
  const bool exited = check_presence && thread.watch.check() == ThreadPresence::exited;
  for (auto& group : thread.groups) {
    for (const auto& counter : group.counters) thread.cells[counter.column].reset();
    GroupReading& reading = group_reading_;
    if (!read_group(group.counters.front().fd.get(), group.counters.size(), read_words_, reading)) {
      continue;
    }
    for (std::size_t i = 0; i < reading.values.size(); ++i) {
      const auto& value = reading.values[i];
      // The kernel lists a group's values in the order its members were added, which is ours;
      // the id is what proves it, so any other order is still matched.
      auto counter = group.counters.begin();
      if (i < group.counters.size() && group.counters[i].id == value.id) {
        counter += static_cast<std::ptrdiff_t>(i);
      } else {
        counter = std::find_if(group.counters.begin(), group.counters.end(),
                               [&](const Counter& c) { return c.id == value.id; });
        if (counter == group.counters.end()) continue;
      }
      thread.cells[counter->column] =
          protocol::Count{scale_count(value.raw, reading.time_enabled, reading.time_running),
                          reading.time_enabled, reading.time_running};
    }
  }
  if (exited) {
    thread.ended = true;
    thread.groups.clear();  // the counts are final: free the fds
  }
}

CounterReading CounterSet::read(PresenceCheck presence, RowCounts rows) {
  const auto now = std::chrono::steady_clock::now();
  const bool check_presence = presence == PresenceCheck::now ||
                              (presence == PresenceCheck::periodic && now >= next_presence_check_);
  if (check_presence) next_presence_check_ = now + kPresenceCheckPeriod;
  CounterReading reading;
  reading.totals.assign(plan_.size(), std::nullopt);
  reading.vcpus.reserve(threads_.size());
  for (auto& thread : threads_) {
    read_thread(thread, check_presence);
    for (std::size_t c = 0; c < plan_.size(); ++c) {
      const protocol::Cell& cell = thread.cells[c];
      if (!cell) continue;
      if (!reading.totals[c]) reading.totals[c].emplace();
      protocol::Count& total = *reading.totals[c];
      total.value = add_saturating(total.value, cell->value);
      total.time_enabled = add_saturating(total.time_enabled, cell->time_enabled);
      total.time_running = add_saturating(total.time_running, cell->time_running);
    }
    protocol::VcpuCounts& row = reading.vcpus.emplace_back();
    row.vcpu = thread.target.vcpu;
    row.status = thread.ended ? protocol::VcpuStatus::ended : protocol::VcpuStatus::running;
    if (rows == RowCounts::included) row.counts = thread.cells;
  }
  return reading;
}

std::size_t CounterSet::open_fd_count() const {
  std::size_t count = 0;
  for (const auto& thread : threads_) {
    for (const auto& group : thread.groups) count += group.counters.size();
  }
  return count;
}

}  // namespace perfkvm::host
