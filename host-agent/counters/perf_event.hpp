// One perf event file descriptor: the perf_event_attr perfkvm uses, the perf_event_open(2)
// syscall, what its errno means for a column, and reading a group of counters.
#pragma once

#include <linux/perf_event.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "protocol/events.hpp"
#include "protocol/messages.hpp"
#include "util/unique_fd.hpp"

namespace perfkvm::host {

// Every counter is read as part of a group: {nr, time_enabled, time_running, {value, id}[nr]}.
inline constexpr std::uint64_t kReadFormat = PERF_FORMAT_GROUP | PERF_FORMAT_ID |
                                             PERF_FORMAT_TOTAL_TIME_ENABLED |
                                             PERF_FORMAT_TOTAL_TIME_RUNNING;

// A counting (never sampling) event on one thread, without children. A group leader starts
// disabled (enabled later through the group); members follow their leader. Scope guest sets
// exclude_host, scope host sets exclude_guest. Throws std::invalid_argument for a software
// event with a scope other than all: the kernel ignores the bits and the column would lie.
perf_event_attr make_attr(const protocol::EventInfo& event, protocol::Scope scope, bool leader);

struct OpenedEvent {
  UniqueFd fd;    // empty on failure
  int error = 0;  // errno on failure
};

// perf_event_open(attr, tid, cpu -1, group_fd, PERF_FLAG_FD_CLOEXEC). tid 0 is the calling
// thread. group_fd -1 opens a new group.
OpenedEvent open_event(const perf_event_attr& attr, pid_t tid, int group_fd);

// The kernel's id of an event (as reported by PERF_FORMAT_ID), or nullopt with errno set.
std::optional<std::uint64_t> event_id(int fd);

// What a perf_event_open errno means for a column, as perf stat decides it: ENOENT, EINVAL,
// ENXIO, ENODEV, ENOSYS and EOPNOTSUPP say the host cannot count the event (not-supported);
// anything else (permissions, a vanished thread, out of fds) is a failure of this request
// (not-counted). `tid` 0 means the calling thread (probing).
struct OpenFailure {
  protocol::ColumnStatus status = protocol::ColumnStatus::not_counted;
  std::string reason;
};
OpenFailure describe_open_error(int error, const protocol::EventInfo& event, protocol::Scope scope,
                                pid_t tid);

// "ENOENT", or "errno 1234" for a number the C library has no name for.
std::string errno_name(int error);

// A counter value corrected for multiplexing: raw * enabled / running in 128-bit arithmetic,
// saturated at 2^64-1; 0 when the counter never ran.
std::uint64_t scale_count(std::uint64_t raw, std::uint64_t enabled, std::uint64_t running);

struct GroupReading {
  std::uint64_t time_enabled = 0;
  std::uint64_t time_running = 0;
  struct Value {
    std::uint64_t id = 0;
    std::uint64_t raw = 0;
  };
  std::vector<Value> values;
};

// Parses the kReadFormat layout into `reading` (reusing its storage); false when the words do
// not hold exactly `nr` entries.
bool parse_group_read(std::span<const std::uint64_t> words, GroupReading& reading);

// Reads a group through its leader into `reading`, with `words` as the read buffer: both keep
// their storage from call to call, so that a sampling loop reads without allocating. `members`
// is the number of events in the group (the buffer size the kernel requires). false with errno
// set if the read fails or is malformed.
bool read_group(int leader_fd, std::size_t members, std::vector<std::uint64_t>& words,
                GroupReading& reading);

// ioctl(fd, request, PERF_IOC_FLAG_GROUP): applies to the leader and its whole group.
bool group_ioctl(int leader_fd, unsigned long request);

// Whether this host can count `event` on a thread at all: opens it on the calling thread
// (scope all), closes it, and says why not when it cannot.
protocol::EventStatus probe_event(const protocol::EventInfo& event);

}  // namespace perfkvm::host
