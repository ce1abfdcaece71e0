// What the benchmarks' floors are made of: one perf group of the same events per thread, read
// with one read(2) per group, on the same kind of fds perfkvm opens; and a thread's CPU time.
#pragma once

#include <linux/perf_event.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "host-agent/counters/perf_event.hpp"
#include "protocol/events.hpp"
#include "util/unique_fd.hpp"

namespace perfkvm::bench {

inline double thread_cpu_ms(pthread_t thread) {
  clockid_t clock{};
  if (pthread_getcpuclockid(thread, &clock) != 0) return 0;
  timespec now{};
  clock_gettime(clock, &now);
  return static_cast<double>(now.tv_sec) * 1e3 + static_cast<double>(now.tv_nsec) / 1e6;
}

class CounterGroups {
 public:
  // One enabled group of `events` on each of `tids`. Throws if an event cannot be opened.
  CounterGroups(const std::vector<pid_t>& tids, const std::vector<std::string>& events)
      : words_(3 + 2 * events.size()) {
    for (const pid_t tid : tids) {
      std::vector<UniqueFd> group;
      for (const auto& name : events) {
        const auto* event = protocol::find_event(name);
        if (!event) throw std::runtime_error("floor: unknown event " + name);
        const int leader = group.empty() ? -1 : group.front().get();
        auto opened = host::open_event(host::make_attr(*event, protocol::Scope::all, leader < 0),
                                       tid, leader);
        if (!opened.fd) throw std::runtime_error("floor: cannot open " + name);
        group.push_back(std::move(opened.fd));
      }
      host::group_ioctl(group.front().get(), PERF_EVENT_IOC_ENABLE);
      groups_.push_back(std::move(group));
    }
  }

  // One grouped read(2) per thread; returns how many succeeded.
  std::uint64_t read_all() {
    std::uint64_t reads = 0;
    for (const auto& group : groups_) {
      if (::read(group.front().get(), words_.data(), words_.size() * sizeof(words_[0])) > 0) ++reads;
    }
    return reads;
  }

 private:
  std::vector<std::vector<UniqueFd>> groups_;
  std::vector<std::uint64_t> words_;
};

}  // namespace perfkvm::bench
