#include "host-agent/counters/thread_watch.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <string>

#include "util/unique_fd.hpp"

namespace perfkvm::host {
namespace {

struct StatRead {
  std::optional<TaskStat> stat;
  bool gone = false;  // the tid does not exist (as opposed to an unreadable /proc)
};

StatRead read_task_stat(pid_t tid) {
  const std::string path = "/proc/" + std::to_string(tid) + "/stat";
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return {std::nullopt, errno == ENOENT || errno == ESRCH};
  // One read: a stat line is a few hundred bytes, and /proc generates it in one go.
  std::array<char, 4096> buffer{};
  ssize_t got = 0;
  do {
    got = ::read(fd.get(), buffer.data(), buffer.size());
  } while (got < 0 && errno == EINTR);
  // ESRCH here: the thread exited between open and read.
  if (got < 0) return {std::nullopt, errno == ESRCH};
  return {parse_task_stat(std::string_view(buffer.data(), static_cast<std::size_t>(got))), false};
}

bool is_exited_state(char state) { return state == 'Z' || state == 'X' || state == 'x'; }

}  // namespace

std::optional<TaskStat> parse_task_stat(std::string_view text) {
  const auto close = text.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  // After "comm)": " state ppid pgrp ..." -- state is field 3, starttime field 22.
  std::string_view rest = text.substr(close + 1);
  TaskStat stat;
  for (int field = 3; field <= 22; ++field) {
    if (rest.empty() || rest.front() != ' ') return std::nullopt;
    rest.remove_prefix(1);
    const auto end = std::min(rest.find_first_of(" \n"), rest.size());
    const std::string_view token = rest.substr(0, end);
    if (token.empty()) return std::nullopt;
    if (field == 3) {
      if (token.size() != 1) return std::nullopt;
      stat.state = token.front();
    } else if (field == 22) {
      const auto [ptr, ec] =
          std::from_chars(token.data(), token.data() + token.size(), stat.start_time);
      if (ec != std::errc() || ptr != token.data() + token.size()) return std::nullopt;
    }
    rest.remove_prefix(end);
  }
  return stat;
}

ThreadWatch::ThreadWatch(pid_t tid) : tid_(tid) {
  const StatRead read = read_task_stat(tid);
  if (read.gone || (read.stat && is_exited_state(read.stat->state))) {
    gone_at_start_ = true;
  } else if (read.stat) {
    start_time_ = read.stat->start_time;
  }
}

ThreadPresence ThreadWatch::check() const {
  if (gone_at_start_) return ThreadPresence::exited;
  const StatRead read = read_task_stat(tid_);
  // No task has the tid now, so whichever thread had it is gone.
  if (read.gone) return ThreadPresence::exited;
  if (!read.stat || !start_time_) return ThreadPresence::unknown;
  if (is_exited_state(read.stat->state) || read.stat->start_time != *start_time_) {
    return ThreadPresence::exited;
  }
  return ThreadPresence::alive;
}

}  // namespace perfkvm::host
