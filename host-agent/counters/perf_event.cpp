#include "host-agent/counters/perf_event.hpp"

#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace perfkvm::host {
namespace {

using protocol::ColumnStatus;
using protocol::EventKind;
using protocol::Scope;

// The pedantic warning about __int128 is about ISO C++; GCC and Clang both have it on x86-64
// and arm64, the only hosts KVM + perfkvm target.
__extension__ using Uint128 = unsigned __int128;

std::string tagged(std::string text, int error) { return text + " (" + errno_name(error) + ")"; }

std::string thread_label(pid_t tid) {
  return tid == 0 ? std::string("the probing thread") : "vCPU thread " + std::to_string(tid);
}

std::string not_supported_reason(int error, const protocol::EventInfo& event, Scope scope) {
  const bool hardware = event.kind == EventKind::hardware;
  if (!hardware) return tagged("the host kernel cannot count this software event", error);
  switch (error) {
    case ENOENT:
    case ENODEV:
    case ENXIO:
    case ENOSYS:
      return tagged("no hardware PMU event for this on the host", error);
    case EOPNOTSUPP:
      // Since the mediated vPMU (perf core, 2025), a hardware event that includes guest time
      // (exclude_guest = 0) is refused while a VM with a mediated vPMU exists: the guest owns
      // the PMU while it runs. Host-only counting still works.
      if (scope != Scope::host) {
        return tagged(
            "a mediated vPMU owns guest-time counting on this host (a VM uses it); "
            "only mode 'host' can count this event",
            error);
      }
      return tagged("the host PMU cannot count this event with exclude_guest", error);
    default:  // EINVAL
      if (scope != Scope::all) {
        return tagged(std::string("the host PMU cannot count this event for the ") +
                          (scope == Scope::guest ? "guest" : "host") + " side alone",
                      error);
      }
      return tagged("the host PMU does not support this event", error);
  }
}

}  // namespace

perf_event_attr make_attr(const protocol::EventInfo& event, Scope scope, bool leader) {
  if (event.kind == EventKind::software && scope != Scope::all) {
    throw std::invalid_argument("software event '" + std::string(event.name) +
                                "' cannot be counted for the guest or host side alone");
  }
  perf_event_attr attr{};
  attr.size = sizeof(attr);
  attr.type = event.perf_type;
  attr.config = event.perf_config;
  attr.read_format = kReadFormat;
  attr.disabled = leader ? 1 : 0;
  attr.exclude_host = scope == Scope::guest ? 1 : 0;
  attr.exclude_guest = scope == Scope::host ? 1 : 0;
  return attr;
}

OpenedEvent open_event(const perf_event_attr& attr, pid_t tid, int group_fd) {
  // The kernel may write the expected size back into attr on E2BIG: give it a copy.
  perf_event_attr copy = attr;
  const long fd = ::syscall(SYS_perf_event_open, &copy, tid, -1, group_fd,
                            static_cast<unsigned long>(PERF_FLAG_FD_CLOEXEC));
  if (fd < 0) return {UniqueFd(), errno};
  return {UniqueFd(static_cast<int>(fd)), 0};
}

std::optional<std::uint64_t> event_id(int fd) {
  std::uint64_t id = 0;
  if (::ioctl(fd, PERF_EVENT_IOC_ID, &id) != 0) return std::nullopt;
  return id;
}

std::string errno_name(int error) {
  const char* name = ::strerrorname_np(error);
  return name != nullptr ? std::string(name) : "errno " + std::to_string(error);
}

OpenFailure describe_open_error(int error, const protocol::EventInfo& event, Scope scope,
                                pid_t tid) {
  switch (error) {
    case ENOENT:
    case ENODEV:
    case ENXIO:
    case ENOSYS:
    case EINVAL:
    case EOPNOTSUPP:
      return {ColumnStatus::not_supported, not_supported_reason(error, event, scope)};
    case EACCES:
    case EPERM:
      return {ColumnStatus::not_counted,
              tagged("permission denied: perfkvm-hostd needs CAP_PERFMON or root", error)};
    case ESRCH:
      return {ColumnStatus::not_counted, tagged(thread_label(tid) + " no longer exists", error)};
    case EMFILE:
    case ENFILE:
      return {ColumnStatus::not_counted, tagged("perfkvm-hostd is out of file descriptors", error)};
    case EBUSY:
      return {ColumnStatus::not_counted,
              tagged("the PMU is in exclusive use by another program", error)};
    default:
      return {ColumnStatus::not_counted,
              tagged("perf_event_open on " + thread_label(tid) + " failed: " + std::strerror(error),
                     error)};
  }
}

std::uint64_t scale_count(std::uint64_t raw, std::uint64_t enabled, std::uint64_t running) {
  if (running == 0) return 0;
  if (running == enabled) return raw;
  const Uint128 scaled = static_cast<Uint128>(raw) * enabled / running;
  constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
  return scaled > kMax ? kMax : static_cast<std::uint64_t>(scaled);
}

bool parse_group_read(std::span<const std::uint64_t> words, GroupReading& reading) {
  constexpr std::size_t kHeader = 3;  // nr, time_enabled, time_running
  if (words.size() < kHeader) return false;
  const std::uint64_t nr = words[0];
  if (nr > (words.size() - kHeader) / 2 || kHeader + 2 * nr != words.size()) return false;
  reading.time_enabled = words[1];
  reading.time_running = words[2];
  reading.values.resize(nr);
  for (std::size_t i = 0; i < nr; ++i) {
    reading.values[i] = {words[kHeader + 2 * i + 1], words[kHeader + 2 * i]};
  }
  return true;
}

bool read_group(int leader_fd, std::size_t members, std::vector<std::uint64_t>& words,
                GroupReading& reading) {
  words.resize(3 + 2 * members);
  const std::size_t bytes = words.size() * sizeof(std::uint64_t);
  ssize_t got = 0;
  do {
    got = ::read(leader_fd, words.data(), bytes);
  } while (got < 0 && errno == EINTR);
  if (got < 0) return false;
  // 0 bytes: the group is in error state (a pinned group that could not be scheduled).
  if (got == 0 || got % static_cast<ssize_t>(sizeof(std::uint64_t)) != 0) {
    errno = EIO;
    return false;
  }
  const std::span<const std::uint64_t> read_words(words.data(),
                                                  static_cast<std::size_t>(got) / sizeof(std::uint64_t));
  if (!parse_group_read(read_words, reading)) {
    errno = EIO;
    return false;
  }
  return true;
}

bool group_ioctl(int leader_fd, unsigned long request) {
  return ::ioctl(leader_fd, request, PERF_IOC_FLAG_GROUP) == 0;
}

protocol::EventStatus probe_event(const protocol::EventInfo& event) {
  protocol::EventStatus status;
  status.name = std::string(event.name);
  status.kind = event.kind;
  const OpenedEvent opened = open_event(make_attr(event, Scope::all, true), 0, -1);
  if (!opened.fd) {
    status.status = protocol::Availability::not_supported;
    status.reason = describe_open_error(opened.error, event, Scope::all, 0).reason;
  }
  return status;
}

}  // namespace perfkvm::host
