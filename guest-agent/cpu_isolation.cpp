#include "guest-agent/cpu_isolation.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <system_error>


namespace perfkvm::guest {

namespace {

constexpr std::size_t kMaxCpus = CpuMask::kMaxCpus;
constexpr unsigned long kPfKthread = 0x00200000;  // include/linux/sched.h

std::optional<pid_t> as_pid(const std::string& name) {
  pid_t value = 0;
  const auto [end, error] = std::from_chars(name.data(), name.data() + name.size(), value);
  if (error != std::errc() || end != name.data() + name.size() || value <= 0) return std::nullopt;
  return value;
}

// The flags field of a /proc/<tid>/stat line (the 9th, counted after the comm in
// parentheses, which may itself hold spaces and parentheses); nullopt if unreadable.
std::optional<unsigned long> task_flags(const std::filesystem::path& stat_path) {
  std::ifstream in(stat_path);
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  const auto close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::size_t at = close + 1;
  for (int field = 3; field <= 9; ++field) {
    while (at < line.size() && line[at] == ' ') ++at;
    const auto end = line.find(' ', at);
    if (field == 9) {
      unsigned long flags = 0;
      const auto stop = end == std::string::npos ? line.size() : end;
      if (std::from_chars(line.data() + at, line.data() + stop, flags).ec != std::errc()) {
        return std::nullopt;
      }
      return flags;
    }
    if (end == std::string::npos) return std::nullopt;
    at = end;
  }
  return std::nullopt;
}

std::vector<pid_t> numeric_entries(const std::filesystem::path& dir) {
  std::vector<pid_t> ids;
  std::error_code error;
  for (std::filesystem::directory_iterator it(dir, error), end; !error && it != end;
       it.increment(error)) {
    if (const auto id = as_pid(it->path().filename().string())) ids.push_back(*id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace

std::vector<pid_t> user_tasks(const std::filesystem::path& proc_root,
                              const std::vector<pid_t>& except) {
  std::vector<pid_t> tasks;
  for (const pid_t pid : numeric_entries(proc_root)) {
    if (std::find(except.begin(), except.end(), pid) != except.end()) continue;
    const auto task_dir = proc_root / std::to_string(pid) / "task";
    for (const pid_t tid : numeric_entries(task_dir)) {
      const auto flags = task_flags(task_dir / std::to_string(tid) / "stat");
      if (flags && !(*flags & kPfKthread)) tasks.push_back(tid);
    }
  }
  return tasks;
}

VcpuIsolation::VcpuIsolation(const std::vector<pid_t>& tasks,
                             const std::vector<std::uint32_t>& vcpus)
    : which_((vcpus.size() == 1 ? "vCPU " : "vCPUs ") + vcpu_list_text(vcpus)) {
  for (const pid_t tid : tasks) {
    CpuMask original;
    if (!original.read(tid)) continue;  // gone
    CpuMask elsewhere;
    bool touches = false;
    for (std::uint32_t cpu = 0; cpu < kMaxCpus; ++cpu) {
      if (!original.test(cpu)) continue;
      const bool counted = std::find(vcpus.begin(), vcpus.end(), cpu) != vcpus.end();
      touches = touches || counted;
      elsewhere.set(cpu, !counted);
    }
    if (!touches) continue;
    if (elsewhere.empty()) {
      ++stayed_;
      ++confined_;
      continue;
    }
    if (!elsewhere.apply(tid)) {
      if (errno == ESRCH) continue;
      ++stayed_;
      ++refused_;
      if (first_refusal_.empty()) {
        first_refusal_ = "task " + std::to_string(tid) + ": " + std::strerror(errno);
      }
      continue;
    }
    moved_.push_back({tid, std::move(original)});
  }
}

VcpuIsolation::~VcpuIsolation() {
  for (const auto& task : moved_) task.original.apply(task.tid);  // ESRCH: it exited; fine
}

std::string VcpuIsolation::summary() const {
  std::string text = "moved " + std::to_string(moved_.size()) + " task" +
                     (moved_.size() == 1 ? "" : "s") + " off " + which_ + " for the run";
  if (stayed_ > 0) {
    text += "; " + std::to_string(stayed_) + " stayed (";
    if (confined_ > 0) text += std::to_string(confined_) + " allowed only there";
    if (confined_ > 0 && refused_ > 0) text += ", ";
    if (refused_ > 0) {
      text += std::to_string(refused_) + " refused, first " + first_refusal_;
    }
    text += ")";
  }
  return text;
}

}  // namespace perfkvm::guest
