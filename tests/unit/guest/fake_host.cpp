#include "fake_host.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "protocol/codec.hpp"
#include "protocol/events.hpp"

namespace perfkvm::test {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t kReportDurationNs = 1'500'000'000;
constexpr const char* kNoPmu = "no hardware PMU on this host (ENOENT)";
constexpr const char* kStaleNonce = "00000000deadbeef";

std::vector<protocol::EventStatus> host_events() {
  std::vector<protocol::EventStatus> events;
  for (const auto& info : protocol::event_catalogue()) {
    const bool hardware = info.kind == protocol::EventKind::hardware;
    events.push_back(
        {std::string(info.name), info.kind,
         hardware ? protocol::Availability::not_supported : protocol::Availability::supported,
         hardware ? kNoPmu : ""});
  }
  return events;
}

bool is_hardware(const std::string& name) {
  const auto* info = protocol::find_event(name);
  return info && info->kind == protocol::EventKind::hardware;
}

// The fixed readings documented in fake_host.hpp.
std::uint64_t report_value(const std::string& event) {
  if (event == "task-clock") return 750'000'000;
  if (event == "context-switches") return 1234;
  if (event == "page-faults") return 321;
  return 7;
}

std::uint64_t sample_value(const std::string& event, std::uint64_t seq, std::uint64_t elapsed) {
  if (event == "task-clock") return elapsed / 2;
  if (event == "context-switches") return 100 * seq;
  return 10 * seq;
}

// The k-th read's answer: at k * 250 ms, below the report's readings for k up to 5.
constexpr std::uint64_t kReadStepNs = 250'000'000;
std::uint64_t read_value(const std::string& event, std::uint64_t k, std::uint64_t elapsed) {
  if (event == "task-clock") return elapsed / 2;
  if (event == "context-switches") return 200 * k;
  if (event == "page-faults") return 50 * k;
  return k;
}

// Cells for every column, each counted column's value from `value_of`, split over the vCPUs
// (vCPU i gets (i+1)/(1+...+n)) when rows are wanted.
template <class ValueOf>
void fill_cells(const protocol::Started& started, bool per_vcpu, std::uint64_t time,
                ValueOf value_of, std::vector<protocol::Cell>& totals,
                std::vector<protocol::VcpuCounts>& rows) {
  const std::uint64_t shares = started.vcpus.size() * (started.vcpus.size() + 1) / 2;
  if (per_vcpu) {
    for (const auto vcpu : started.vcpus) rows.push_back({vcpu, protocol::VcpuStatus::running, {}});
  }
  for (const auto& column : started.columns) {
    if (column.status != protocol::ColumnStatus::counted) {
      totals.emplace_back();
      for (auto& row : rows) row.counts.emplace_back();
      continue;
    }
    const std::uint64_t value = value_of(column.event);
    totals.push_back(
        protocol::Count{value, time * started.vcpus.size(), time * started.vcpus.size()});
    for (std::size_t i = 0; i < rows.size(); ++i) {
      rows[i].counts.push_back(protocol::Count{value * (i + 1) / shares, time, time});
    }
  }
}

void send_all(int fd, const std::string& bytes) {
  std::size_t at = 0;
  while (at < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
    if (n <= 0) return;  // the client is gone; nothing to do
    at += static_cast<std::size_t>(n);
  }
}

}  // namespace

struct FakeHost::Connection {
  UniqueFd fd;
  std::string nonce;
  bool session = false;
  std::optional<protocol::Start> start;
  protocol::Started started;
  bool counting = false;
  std::uint64_t seq = 0;
  std::uint64_t reads = 0;
  std::uint64_t reports = 0;  // sent for a stop, over the connection's requests
  Clock::time_point counting_since;
  std::optional<Clock::time_point> next_sample;
  std::optional<Clock::time_point> signal_at;
  std::optional<Clock::time_point> reset_at;  // AfterStarted::reset: nothing read until then
  std::vector<protocol::Sample> late;  // late_samples waiting for the next sample
  bool closed = false;

  void send(const protocol::Message& message) {
    if (!closed) send_all(fd.get(), protocol::encode_message(message));
  }

  // As hostd ends a session whose guest was silent for its lease (PROTOCOL.md §6.3).
  void end_for_silence(std::uint32_t lease_ms) {
    send(protocol::Error{nonce, started.request_id, protocol::ErrorCode::lease_expired,
                         "no message from the guest for " + std::to_string(lease_ms) +
                             " ms (the lease): the session's counters are closed",
                         std::nullopt});
    session = false;
    counting = false;
  }

  // Everything a stale or broken stream can hold (PROTOCOL.md §2.2, §3.3, §10.1).
  void send_noise() {
    std::string noise = "garbage before any frame \x01\x02";
    noise += protocol::encode_frame("{this is not json}");
    noise += protocol::encode_frame(R"(["an","array"])");
    noise += std::string(
        "\xFF"
        "PX\x01\x00\x00\x00\x05{}{}{",
        13);  // bad magic
    noise += protocol::encode_message(protocol::Error{"", std::nullopt,
                                                      protocol::ErrorCode::invalid_json,
                                                      "payload is not valid JSON: syntax error", std::nullopt});
    protocol::Welcome stale_welcome;
    stale_welcome.nonce = kStaleNonce;
    stale_welcome.domain_name = "stale";
    noise += protocol::encode_message(stale_welcome);
    protocol::Report stale_report;
    stale_report.nonce = kStaleNonce;
    stale_report.request_id = 1;
    noise += protocol::encode_message(stale_report);
    protocol::Error stale_error{kStaleNonce, 1, protocol::ErrorCode::lease_expired, "old", std::nullopt};
    noise += protocol::encode_message(stale_error);
    // A frame cut short: its header promises more than comes before the next 0xFF.
    noise += std::string(
        "\xFF"
        "PK\x01\x00\x00\x01\x00{\"type\":\"report\"",
        24);
    if (!closed) send_all(fd.get(), noise);
  }
};

FakeHost::FakeHost(FakeHostScript script)
    : script_(std::move(script)), rate_limited_left_(script_.rate_limited_starts) {
  char pattern[] = "/tmp/perfkvm-fake-host-XXXXXX";
  if (!::mkdtemp(pattern)) throw std::runtime_error("fake host: mkdtemp failed");
  dir_ = pattern;
  socket_path_ = (dir_ / "port.sock").string();
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, socket_path_.c_str(), sizeof address.sun_path - 1);
  listener_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listener_ ||
      ::bind(listener_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listener_.get(), 4) != 0) {
    throw std::runtime_error("fake host: cannot listen on " + socket_path_);
  }
  thread_ = std::thread([this] { serve(); });
}

FakeHost::~FakeHost() {
  stop();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

void FakeHost::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

std::vector<std::string> FakeHost::received() const {
  std::lock_guard lock(mutex_);
  return received_;
}

std::size_t FakeHost::count(const std::string& type) const {
  std::lock_guard lock(mutex_);
  return static_cast<std::size_t>(std::count(received_.begin(), received_.end(), type));
}

std::size_t FakeHost::distinct_nonces() const {
  std::lock_guard lock(mutex_);
  return nonces_.size();
}

std::optional<protocol::Start> FakeHost::start_message() const {
  std::lock_guard lock(mutex_);
  return start_;
}

void FakeHost::record(const protocol::Message& message) {
  std::lock_guard lock(mutex_);
  received_.emplace_back(protocol::type_name(message));
  nonces_.insert(protocol::nonce_of(message));
  if (const auto* start = std::get_if<protocol::Start>(&message)) start_ = *start;
}

void FakeHost::serve() {
  Connection connection;
  while (!stopping_ && !connection.fd) {
    pollfd wait{listener_.get(), POLLIN, 0};
    if (::poll(&wait, 1, 20) == 1) {
      connection.fd.reset(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    }
  }
  protocol::FrameDecoder decoder;
  while (!stopping_ && !connection.closed) {
    if (connection.reset_at) {
      // A unix socket closed with bytes unread resets the peer's end, as a vsock reset does.
      if (Clock::now() >= *connection.reset_at) {
        connection.closed = true;
        connection.fd.reset();
      }
      std::this_thread::sleep_for(5ms);
      continue;
    }
    pollfd wait{connection.fd.get(), POLLIN, 0};
    if (::poll(&wait, 1, 5) == 1) {
      char buffer[65536];
      const ssize_t n = ::read(connection.fd.get(), buffer, sizeof buffer);
      if (n <= 0) return;  // perfkvm closed the connection: it has exited
      std::string_view input(buffer, static_cast<std::size_t>(n));
      while (auto payload = decoder.next(input)) {
        auto parsed = protocol::parse_message(*payload);
        if (auto* message = std::get_if<protocol::Message>(&parsed)) {
          record(*message);
          handle(connection, *message);
        }
      }
    }
    const auto now = Clock::now();
    if (connection.counting && connection.next_sample && now >= *connection.next_sample) {
      const std::uint64_t interval_ms = *connection.started.interval_ms;
      *connection.next_sample += std::chrono::milliseconds(interval_ms);
      protocol::Sample sample;
      sample.nonce = connection.nonce;
      sample.request_id = connection.started.request_id;
      sample.seq = ++connection.seq;
      sample.elapsed_ns = sample.seq * interval_ms * 1'000'000;
      sample.host_time_ns = 1'764'000'000'000'000'000 + sample.elapsed_ns;
      fill_cells(
          connection.started, connection.start->per_vcpu, sample.elapsed_ns,
          [&](const std::string& event) {
            return sample_value(event, sample.seq, sample.elapsed_ns);
          },
          sample.totals, sample.vcpus);
      if (script_.short_samples.contains(sample.seq)) sample.totals.pop_back();
      if (script_.foreign_samples.contains(sample.seq)) ++sample.request_id;
      if (script_.drop_samples.contains(sample.seq)) {
        // numbered, never sent
      } else if (script_.late_samples.contains(sample.seq)) {
        connection.late.push_back(std::move(sample));
      } else {
        connection.send(sample);
        if (script_.repeat_samples.contains(sample.seq)) connection.send(sample);
        for (const auto& late : connection.late) connection.send(late);
        connection.late.clear();
      }
      if (script_.close_after_sample != 0 && sample.seq == script_.close_after_sample) {
        connection.closed = true;
        connection.fd.reset();
        connection.counting = false;
      }
      if (script_.lease_expired_after_sample != 0 && !lease_expired_sent_ &&
          sample.seq == script_.lease_expired_after_sample) {
        lease_expired_sent_ = true;
        connection.end_for_silence(script_.lease_ms);
      }
    }
    if (connection.signal_at && now >= *connection.signal_at && client_pid_ != 0) {
      connection.signal_at.reset();
      ::kill(client_pid_, script_.signal_after_started);
    }
  }
}

void FakeHost::handle(Connection& connection, const protocol::Message& message) {
  if (script_.silent) return;
  if (script_.mute_after_started && connection.start) return;
  if (script_.garbage) connection.send_noise();
  const std::string& nonce = protocol::nonce_of(message);

  if (const auto* hello = std::get_if<protocol::Hello>(&message)) {
    if (script_.hello_error) {
      auto error = *script_.hello_error;
      error.nonce = hello->nonce;
      connection.send(error);
      return;
    }
    connection.nonce = hello->nonce;
    connection.session = true;
    protocol::Welcome welcome;
    welcome.nonce = hello->nonce;
    welcome.protocol = script_.welcome_protocol;
    welcome.agent = "fake-hostd";
    welcome.domain_name = "fake";
    welcome.domain_uuid = "c7a5fdbd-edaf-9455-926a-d65c16db1809";
    welcome.vcpus = script_.vcpus;
    welcome.events = host_events();
    welcome.limits.lease_ms = script_.lease_ms;
    connection.send(welcome);
    return;
  }
  if (!connection.session || nonce != connection.nonce) {
    connection.send(protocol::Error{nonce, std::nullopt, protocol::ErrorCode::no_session,
                                    "no session with this nonce", std::nullopt});
    return;
  }
  if (std::holds_alternative<protocol::Keepalive>(message)) {
    connection.send(protocol::Keepalive{nonce});
  } else if (std::holds_alternative<protocol::ListEvents>(message)) {
    connection.send(protocol::Events{nonce, host_events()});
  } else if (const auto* start = std::get_if<protocol::Start>(&message)) {
    if (rate_limited_left_ > 0) {
      --rate_limited_left_;
      connection.send(protocol::Error{nonce, start->request_id, protocol::ErrorCode::rate_limited,
                                      "this channel may start 20 requests per second", 50});
      return;
    }
    if (script_.start_error) {
      auto error = *script_.start_error;
      error.nonce = nonce;
      error.request_id = start->request_id;
      connection.send(error);
      return;
    }
    auto& started = connection.started;
    started = protocol::Started{nonce, start->request_id, {}, {}, start->interval_ms};
    for (const auto& name : start->events) {
      const protocol::ParsedEventName parsed = protocol::parse_event_name(name);
      const bool hardware = is_hardware(std::string(parsed.base));
      using Modifier = protocol::EventModifier;
      const protocol::Scope scope =
          hardware && parsed.modifier == Modifier::guest ? protocol::Scope::guest
          : hardware && parsed.modifier == Modifier::host ? protocol::Scope::host
          : !hardware || start->mode == protocol::StartMode::all ? protocol::Scope::all
          : start->mode == protocol::StartMode::host           ? protocol::Scope::host
                                                               : protocol::Scope::guest;
      started.columns.push_back(
          {std::string(parsed.event->name), scope,
           hardware ? protocol::ColumnStatus::not_supported : protocol::ColumnStatus::counted,
           hardware ? kNoPmu : ""});
    }
    if (start->vcpus) {
      started.vcpus = *start->vcpus;
    } else {
      for (std::uint32_t vcpu = 0; vcpu < script_.vcpus; ++vcpu) started.vcpus.push_back(vcpu);
    }
    connection.start = *start;
    connection.seq = 0;  // samples and reads are numbered per request, as hostd numbers them
    connection.reads = 0;
    connection.counting = true;
    connection.counting_since = Clock::now();
    if (start->interval_ms) {
      connection.next_sample = Clock::now() + std::chrono::milliseconds(*start->interval_ms);
    }
    connection.send(started);
    if (script_.signal_after_started != 0) connection.signal_at = Clock::now() + 150ms;

    protocol::Report early;
    early.nonce = nonce;
    early.request_id = start->request_id;
    early.duration_ns = kReportDurationNs;
    early.columns = started.columns;
    switch (script_.after_started) {
      case FakeHostScript::AfterStarted::nothing:
        break;
      case FakeHostScript::AfterStarted::close:
        connection.closed = true;
        connection.fd.reset();
        break;
      case FakeHostScript::AfterStarted::reset:
        connection.reset_at = Clock::now() + 200ms;
        break;
      case FakeHostScript::AfterStarted::lease_expired:
        connection.end_for_silence(script_.lease_ms);
        break;
      case FakeHostScript::AfterStarted::forgot_session:
        if (forgot_session_sent_) break;
        forgot_session_sent_ = true;
        connection.send(protocol::Error{nonce, std::nullopt, protocol::ErrorCode::no_session,
                                        "no session " + nonce +
                                            " on this channel (send hello first)",
                                        std::nullopt});
        connection.session = false;
        connection.counting = false;
        break;
      case FakeHostScript::AfterStarted::failure:
      case FakeHostScript::AfterStarted::policy_changed:
        if (script_.after_started == FakeHostScript::AfterStarted::failure) {
          connection.send(protocol::Error{nonce, start->request_id, protocol::ErrorCode::internal,
                                          "cannot read the counters: No such device",
                                          std::nullopt});
        } else {
          connection.send(protocol::Error{
              nonce, start->request_id, protocol::ErrorCode::not_permitted,
              "the policy changed: domain 'fake': policy rule 'guest-requests' is deny",
              std::nullopt});
        }
        early.reason = protocol::EndReason::error;
        [[fallthrough]];
      case FakeHostScript::AfterStarted::domain_stopped:
        if (early.reason != protocol::EndReason::error) {
          early.reason = protocol::EndReason::domain_stopped;
        }
        fill_cells(started, start->per_vcpu, kReportDurationNs, report_value, early.totals,
                   early.vcpus);
        connection.send(early);
        connection.counting = false;
        break;
    }
  } else if (const auto* read = std::get_if<protocol::Read>(&message)) {
    if (script_.welcome_protocol < protocol::kReadProtocolVersion) {
      // As a version-1 host answers a type it does not know.
      connection.send(protocol::Error{nonce, read->request_id, protocol::ErrorCode::unknown_type,
                                      "unknown message type \"read\"", std::nullopt});
      return;
    }
    if (!connection.counting || read->request_id != connection.started.request_id) {
      connection.send(protocol::Error{nonce, read->request_id, protocol::ErrorCode::unknown_request,
                                      "request " + std::to_string(read->request_id) +
                                          " is not counting", std::nullopt});
      return;
    }
    protocol::Sample answer;
    answer.nonce = nonce;
    answer.request_id = read->request_id;
    answer.seq = connection.seq;
    answer.read_id = read->read_id;
    const std::uint64_t k = ++connection.reads;
    answer.elapsed_ns = k * kReadStepNs;
    answer.host_time_ns = 1'764'000'000'000'000'000 + answer.elapsed_ns;
    fill_cells(
        connection.started, connection.start->per_vcpu, answer.elapsed_ns,
        [&](const std::string& event) { return read_value(event, k, answer.elapsed_ns); },
        answer.totals, answer.vcpus);
    connection.send(answer);
    if (script_.close_after_read != 0 && k == script_.close_after_read) {
      connection.closed = true;
      connection.fd.reset();
      connection.counting = false;
    }
  } else if (const auto* stop = std::get_if<protocol::Stop>(&message)) {
    if (script_.ignore_stop) return;
    if (!connection.counting || stop->request_id != connection.started.request_id) {
      connection.send(
          protocol::Error{nonce, stop->request_id, protocol::ErrorCode::unknown_request,
                          "request " + std::to_string(stop->request_id) + " is not running", std::nullopt});
      return;
    }
    connection.counting = false;
    protocol::Report report;
    report.nonce = nonce;
    report.request_id = stop->request_id;
    // vary_reports: the k-th report of the connection reads k times the fixed numbers.
    const std::uint64_t report_number = ++connection.reports;
    const std::uint64_t times = script_.vary_reports ? report_number : 1;
    report.duration_ns = kReportDurationNs * times;
    const auto dropped = static_cast<std::uint64_t>(
        std::count_if(script_.drop_samples.begin(), script_.drop_samples.end(),
                      [&](std::uint64_t seq) { return seq <= connection.seq; }));
    report.samples_sent = connection.seq - dropped;
    report.samples_dropped = dropped;
    report.columns = connection.started.columns;
    fill_cells(
        connection.started, connection.start->per_vcpu, report.duration_ns,
        [&](const std::string& event) { return report_value(event) * times; }, report.totals,
        report.vcpus);
    connection.send(report);
    if (script_.close_after_reports != 0 && report_number == script_.close_after_reports) {
      connection.closed = true;
      connection.fd.reset();
    }
  }
}

}  // namespace perfkvm::test
