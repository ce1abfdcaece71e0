// The perfkvm messages as typed structs. JSON conversion lives in message_json.cpp
// (Boost.JSON tag_invoke), parsing and validation of untrusted payloads in codec.hpp.
// Every field and rule here is documented in protocol/PROTOCOL.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "protocol/enum_strings.hpp"
#include "protocol/events.hpp"

namespace perfkvm::protocol {

// Highest and lowest protocol versions this build speaks (negotiated in hello/welcome).
inline constexpr std::uint32_t kProtocolVersion = 2;
inline constexpr std::uint32_t kMinProtocolVersion = 1;
// The first version with `read` (a snapshot of the running request, answered by a sample).
inline constexpr std::uint32_t kReadProtocolVersion = 2;

// Hard ceilings of the wire format; each agent may configure lower limits.
inline constexpr std::size_t kMaxEventsPerRequest = 64;
inline constexpr std::uint32_t kMaxVcpus = 4096;
inline constexpr std::uint32_t kMaxIntervalMs = 3'600'000;
inline constexpr std::size_t kMaxNameLength = 256;
inline constexpr std::size_t kMaxMessageLength = 4096;
inline constexpr std::size_t kMinNonceLength = 8;
inline constexpr std::size_t kMaxNonceLength = 64;

enum class ErrorCode {
  invalid_json,
  invalid_message,
  unknown_type,
  unsupported_version,
  no_session,
  busy,
  unknown_event,
  too_many_events,
  interval_too_short,
  invalid_vcpu,
  unknown_request,
  too_many_sessions,
  domain_unavailable,
  unknown_peer,
  lease_expired,
  session_replaced,
  not_permitted,
  rate_limited,
  internal,
};

// How hardware events are counted (software events ignore it).
enum class StartMode {
  all,    // one column, no exclusion: guest and host time of the vCPU threads
  guest,  // exclude_host: only while the vCPU runs guest code (KVM)
  host,   // exclude_guest: only the host side of the vCPU threads
  both,   // two columns per hardware event: guest and host
};

// What a column counts: "all" for software events and mode all, else guest or host.
enum class Scope { all, guest, host };

enum class ColumnStatus { counted, not_supported, not_counted };

// not_permitted: the host counts the event, but the domain's policy does not let its guest.
enum class Availability { supported, not_supported, not_permitted };

enum class VcpuStatus { running, ended };

enum class EndReason { stopped, domain_stopped, error };

template <>
struct EnumStrings<ErrorCode> {
  static constexpr std::pair<ErrorCode, std::string_view> table[] = {
      {ErrorCode::invalid_json, "invalid-json"},
      {ErrorCode::invalid_message, "invalid-message"},
      {ErrorCode::unknown_type, "unknown-type"},
      {ErrorCode::unsupported_version, "unsupported-version"},
      {ErrorCode::no_session, "no-session"},
      {ErrorCode::busy, "busy"},
      {ErrorCode::unknown_event, "unknown-event"},
      {ErrorCode::too_many_events, "too-many-events"},
      {ErrorCode::interval_too_short, "interval-too-short"},
      {ErrorCode::invalid_vcpu, "invalid-vcpu"},
      {ErrorCode::unknown_request, "unknown-request"},
      {ErrorCode::too_many_sessions, "too-many-sessions"},
      {ErrorCode::domain_unavailable, "domain-unavailable"},
      {ErrorCode::unknown_peer, "unknown-peer"},
      {ErrorCode::lease_expired, "lease-expired"},
      {ErrorCode::session_replaced, "session-replaced"},
      {ErrorCode::not_permitted, "not-permitted"},
      {ErrorCode::rate_limited, "rate-limited"},
      {ErrorCode::internal, "internal"},
  };
};

template <>
struct EnumStrings<StartMode> {
  static constexpr std::pair<StartMode, std::string_view> table[] = {
      {StartMode::all, "all"},
      {StartMode::guest, "guest"},
      {StartMode::host, "host"},
      {StartMode::both, "both"},
  };
};

template <>
struct EnumStrings<Scope> {
  static constexpr std::pair<Scope, std::string_view> table[] = {
      {Scope::all, "all"},
      {Scope::guest, "guest"},
      {Scope::host, "host"},
  };
};

template <>
struct EnumStrings<ColumnStatus> {
  static constexpr std::pair<ColumnStatus, std::string_view> table[] = {
      {ColumnStatus::counted, "counted"},
      {ColumnStatus::not_supported, "not-supported"},
      {ColumnStatus::not_counted, "not-counted"},
  };
};

template <>
struct EnumStrings<Availability> {
  static constexpr std::pair<Availability, std::string_view> table[] = {
      {Availability::supported, "supported"},
      {Availability::not_supported, "not-supported"},
      {Availability::not_permitted, "not-permitted"},
  };
};

template <>
struct EnumStrings<VcpuStatus> {
  static constexpr std::pair<VcpuStatus, std::string_view> table[] = {
      {VcpuStatus::running, "running"},
      {VcpuStatus::ended, "ended"},
  };
};

template <>
struct EnumStrings<EndReason> {
  static constexpr std::pair<EndReason, std::string_view> table[] = {
      {EndReason::stopped, "stopped"},
      {EndReason::domain_stopped, "domain-stopped"},
      {EndReason::error, "error"},
  };
};

template <>
struct EnumStrings<EventKind> {
  static constexpr std::pair<EventKind, std::string_view> table[] = {
      {EventKind::hardware, "hardware"},
      {EventKind::software, "software"},
  };
};

// ---- building blocks -------------------------------------------------------------------

struct Limits {
  std::uint32_t min_interval_ms = 10;
  std::uint32_t max_events = 32;
  std::uint32_t max_sessions = 4;
  std::uint32_t max_frame_bytes = 1024 * 1024;
  std::uint32_t lease_ms = 10'000;  // a session that sends nothing for this long is closed
  bool operator==(const Limits&) const = default;
};

struct EventStatus {
  std::string name;
  EventKind kind = EventKind::software;
  Availability status = Availability::supported;
  std::string reason;  // why not supported; empty otherwise
  bool operator==(const EventStatus&) const = default;
};

// One column of a started/sample/report table: an event counted in one scope.
struct Column {
  std::string event;
  Scope scope = Scope::all;
  ColumnStatus status = ColumnStatus::counted;
  std::string reason;  // why not supported / not counted; empty when counted
  bool operator==(const Column&) const = default;
};

// A counter reading. `value` is already scaled for multiplexing
// (raw * time_enabled / time_running); time_running < time_enabled means it was multiplexed.
struct Count {
  std::uint64_t value = 0;
  std::uint64_t time_enabled = 0;
  std::uint64_t time_running = 0;
  bool operator==(const Count&) const = default;
};

// A cell is empty (JSON null) when its column is not counted.
using Cell = std::optional<Count>;

struct VcpuCounts {
  std::uint32_t vcpu = 0;
  VcpuStatus status = VcpuStatus::running;  // ended: the thread exited, counts are final
  std::vector<Cell> counts;                 // one per column
  bool operator==(const VcpuCounts&) const = default;
};

// ---- messages ---------------------------------------------------------------------------
// `nonce` is chosen by the guest in hello and carried by every message of that session.

struct Hello {
  static constexpr std::string_view kType = "hello";
  std::string nonce;
  std::uint32_t protocol_min = kMinProtocolVersion;
  std::uint32_t protocol_max = kProtocolVersion;
  std::string agent;
  std::string agent_version;
  bool operator==(const Hello&) const = default;
};

struct Welcome {
  static constexpr std::string_view kType = "welcome";
  std::string nonce;
  std::uint32_t protocol = kProtocolVersion;
  std::string agent;
  std::string agent_version;
  std::string domain_name;
  std::string domain_uuid;
  std::uint32_t vcpus = 0;
  std::vector<EventStatus> events;
  Limits limits;
  bool operator==(const Welcome&) const = default;
};

struct Start {
  static constexpr std::string_view kType = "start";
  std::string nonce;
  std::uint64_t request_id = 0;
  std::vector<std::string> events;
  std::optional<std::uint32_t> interval_ms;          // none: no samples, only the report
  std::optional<std::vector<std::uint32_t>> vcpus;  // none: every vCPU
  bool per_vcpu = false;
  StartMode mode = StartMode::all;
  bool operator==(const Start&) const = default;
};

struct Started {
  static constexpr std::string_view kType = "started";
  std::string nonce;
  std::uint64_t request_id = 0;
  std::vector<Column> columns;
  std::vector<std::uint32_t> vcpus;
  std::optional<std::uint32_t> interval_ms;
  bool operator==(const Started&) const = default;
};

struct Sample {
  static constexpr std::string_view kType = "sample";
  std::string nonce;
  std::uint64_t request_id = 0;
  std::uint64_t seq = 0;         // 1, 2, 3...; a gap means samples were dropped
  std::uint64_t elapsed_ns = 0;  // since counting started
  std::uint64_t host_time_ns = 0;  // host CLOCK_REALTIME
  std::vector<Cell> totals;        // cumulative since start, one per column
  std::vector<VcpuCounts> vcpus;   // only when per_vcpu was requested
  // Protocol 2: the answer to the `read` with this read_id (seq is then the last interval
  // sample's, not a new one); none for the interval samples.
  std::optional<std::uint64_t> read_id;
  bool operator==(const Sample&) const = default;
};

struct Stop {
  static constexpr std::string_view kType = "stop";
  std::string nonce;
  std::uint64_t request_id = 0;
  bool operator==(const Stop&) const = default;
};

// Protocol 2: a reading of the running request now, answered by a sample with this read_id.
struct Read {
  static constexpr std::string_view kType = "read";
  std::string nonce;
  std::uint64_t request_id = 0;
  std::uint64_t read_id = 0;
  bool operator==(const Read&) const = default;
};

struct Report {
  static constexpr std::string_view kType = "report";
  std::string nonce;
  std::uint64_t request_id = 0;
  EndReason reason = EndReason::stopped;
  std::uint64_t duration_ns = 0;
  std::uint64_t samples_sent = 0;
  std::uint64_t samples_dropped = 0;
  std::vector<Column> columns;
  std::vector<Cell> totals;
  std::vector<VcpuCounts> vcpus;  // only when per_vcpu was requested
  bool operator==(const Report&) const = default;
};

struct Keepalive {
  static constexpr std::string_view kType = "keepalive";
  std::string nonce;
  bool operator==(const Keepalive&) const = default;
};

struct ListEvents {
  static constexpr std::string_view kType = "list-events";
  std::string nonce;
  bool operator==(const ListEvents&) const = default;
};

struct Events {
  static constexpr std::string_view kType = "events";
  std::string nonce;
  std::vector<EventStatus> events;
  bool operator==(const Events&) const = default;
};

struct Error {
  static constexpr std::string_view kType = "error";
  std::string nonce;  // may be empty when the offending frame had no readable nonce
  std::optional<std::uint64_t> request_id;
  ErrorCode code = ErrorCode::internal;
  std::string message;
  // rate-limited: when the host will accept the request again (PROTOCOL.md §6.2).
  std::optional<std::uint32_t> retry_after_ms;
  bool operator==(const Error&) const = default;
};

using Message = std::variant<Hello, Welcome, Start, Started, Sample, Stop, Report, Keepalive,
                             ListEvents, Events, Error, Read>;

// A nonce is 8 to 64 lowercase hex digits.
bool is_valid_nonce(std::string_view nonce);

// The "type" of a message, e.g. "sample".
std::string_view type_name(const Message& message);

// The nonce every message carries.
const std::string& nonce_of(const Message& message);

}  // namespace perfkvm::protocol
