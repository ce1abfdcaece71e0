// Tells when a counted thread has exited.
//
// Measured on Linux 6.18 (tests/unit/counters): after a thread exits, a read() of its perf
// group still succeeds and returns the final counts (time_enabled stops advancing); poll() on a
// perf fd is no signal at all, since without an mmap'd ring buffer it reports POLLHUP from the
// start, while the thread still runs. /proc/<tid>/stat is reliable: the kernel detaches the
// thread's perf events (perf_event_exit_task) before it unhashes the tid, so once /proc/<tid>
// is gone (or shows a zombie) the counts read afterwards are final. The thread's start time,
// recorded when counting begins, guards against the tid being reused by a new thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string_view>

namespace perfkvm::host {

struct TaskStat {
  char state = '?';              // field 3: R, S, D, Z, X, ...
  std::uint64_t start_time = 0;  // field 22: clock ticks after boot
};

// Parses the contents of /proc/<tid>/stat (untrusted text). The command name (field 2) may
// contain spaces and parentheses, so the fields after it are found after the last ')'.
std::optional<TaskStat> parse_task_stat(std::string_view text);

enum class ThreadPresence { alive, exited, unknown };

class ThreadWatch {
 public:
  // Records the thread's start time now; unknown presence from then on if /proc can't tell.
  explicit ThreadWatch(pid_t tid);

  // exited: /proc/<tid> is gone, a zombie, or now a different thread (start time differs).
  ThreadPresence check() const;

 private:
  pid_t tid_;
  std::optional<std::uint64_t> start_time_;
  bool gone_at_start_ = false;
};

}  // namespace perfkvm::host
