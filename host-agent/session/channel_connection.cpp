#include "host-agent/session/channel_connection.hpp"

#include <array>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <stdexcept>

#include "host-agent/counters/sampling_loop.hpp"
#include "host-agent/policy/policy_checks.hpp"
#include "host-agent/session/admission.hpp"
#include "host-agent/session/guest_lease.hpp"
#include "host-agent/session/session_policy.hpp"
#include "perfkvm_config.hpp"
#include "util/asio_nothrow.hpp"
#include "util/log.hpp"
#include "util/log_exceptions.hpp"
#include "util/log_throttle.hpp"

namespace perfkvm::host {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using protocol::ErrorCode;
using Clock = std::chrono::steady_clock;

namespace {

using perfkvm::use_nothrow;
// One read's worth, in a buffer shared by the channels of a thread (see read_loop).
constexpr std::size_t kReadChunk = 64 * 1024;
// The work the reader does before it lets the thread's other handlers run (see read_loop).
constexpr auto kReaderTurn = std::chrono::milliseconds(1);

// Lines a guest can cause at will, one per frame it sends: at most one a second of each kind
// for all the channels of hostd's thread (as the vsock listener's refusals), the next one
// saying how many were suppressed. Unthrottled, a guest writing bad frames at full speed put
// 100,000 warnings a second into hostd's log, where journald's rate limit would then drop
// every other guest's lines and hostd's own.
thread_local LogThrottle bad_message_log;
thread_local LogThrottle guest_error_log;
// The same for hellos that replace a session on their channel, which a guest can send at full
// speed too (a hello storm wrote 15,000 lines a second); a channel's first session is always
// logged.
thread_local LogThrottle replacing_session_log;

}  // namespace

ChannelConnection::ChannelConnection(ChannelSocket socket, std::shared_ptr<DomainContext> domain,
                                     const SessionConfig& config,
                                     const std::vector<protocol::EventStatus>& event_table,
                                     std::string label, ChannelKind kind)
    : socket_(std::move(socket)),
      domain_(std::move(domain)),
      config_(config),
      stats_(config.stats),
      event_table_(event_table),
      label_(std::move(label)),
      kind_(kind),
      idle_since_(Clock::now()),
      decoder_(config.max_frame_bytes),
      outbox_(config.max_queued_samples, config.max_queued_replies, config.max_queued_bytes),
      outbox_ready_(socket_.get_executor()),
      lease_timer_(socket_.get_executor()) {
  if (!domain_->start_budget) {
    domain_->start_budget.emplace(config.max_starts_per_second,
                                  config.max_counter_opens_per_second);
  }
  if (!domain_->counters) {
    domain_->counters = std::make_shared<CounterBudget>(config.max_domain_counters);
  }
  if (!domain_->reads) {
    domain_->reads = std::make_shared<CounterBudget>(config.max_domain_reads_per_second);
  }
  // Non-blocking for send()'s direct write, which must never stall hostd's one thread; Asio's
  // own asynchronous operations are unaffected.
  boost::system::error_code ignored;
  socket_.non_blocking(true, ignored);
}

ChannelConnection::~ChannelConnection() {
  if (session_) {
    --domain_->active_sessions;
    --stats_->sessions_active;
  }
}

void ChannelConnection::close() {
  boost::system::error_code ignored;
  socket_.shutdown(ChannelSocket::shutdown_both, ignored);
  socket_.close(ignored);
}

std::size_t ChannelConnection::open_counter_fds() const {
  return request_ ? request_->measurement().open_fd_count() : 0;
}

asio::awaitable<void> ChannelConnection::run() {
  const auto self = shared_from_this();
  // Forget the channels that ended first: a guest connecting in a loop (vsock, one connection
  // a program) would otherwise grow the list without bound, and each expired weak_ptr keeps
  // its channel's whole make_shared block (800 bytes) allocated.
  std::erase_if(domain_->channels, [](const auto& channel) { return channel.expired(); });
  domain_->channels.push_back(weak_from_this());
  log::info(label_ + ": channel connected");
  // Each loop catches what it throws: with Boost 1.81's ||, a branch ending in an exception
  // would not cancel the others, and the channel would hang half alive.
  co_await (read_loop() || write_loop() || lease_loop());
  end_session(std::nullopt, "channel closed");
  const auto& stats = decoder_.stats();
  log::info(label_ + ": channel closed (" + std::to_string(stats.frames) + " frames read, " +
            std::to_string(stats.discarded_bytes) + " bytes discarded)");
}

// ---- I/O loops -------------------------------------------------------------------------------

asio::awaitable<void> ChannelConnection::read_loop() {
  for (;;) {
    // Wait until readable, then read into a buffer all channels of this thread share: a
    // channel holds no read buffer while it waits, and hostd keeps one open to every domain.
    auto [waited] = co_await socket_.async_wait(ChannelSocket::wait_read, use_nothrow);
    boost::system::error_code ec = waited;
    std::size_t n = 0;
    thread_local std::array<char, kReadChunk> buffer;
    if (!ec) n = socket_.read_some(asio::buffer(buffer), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) continue;
    if (ec) {
      if (ec != asio::error::eof && ec != asio::error::operation_aborted) {
        log::warning(label_ + ": read failed: " + ec.message());
      }
      co_return;
    }
    const auto before = decoder_.stats();
    std::string_view input(buffer.data(), n);
    // The part of this read not decoded yet, once the reader has let other handlers run: the
    // shared buffer may be another channel's by then.
    std::string rest;
    try {
      // Never waits: whatever a guest program queued, the next program's hello behind it is
      // read at once (starts over the rate are refused, not delayed).
      auto turn_began = Clock::now();
      while (auto payload = decoder_.next(input)) {
        on_payload(protocol::parse_message(*payload));
        // One read can hold thousands of frames that each want a reply encoded, or twenty
        // starts that each open counters: after every millisecond of decoding and handling
        // them, the other channels' handlers (their sample timers) get the thread, or one
        // guest delays every other guest's samples by its whole batch (by 10 to 40 ms,
        // tests/integration/hostile_guest_test.cpp measured).
        if (!input.empty() && Clock::now() - turn_began > kReaderTurn) {
          rest = std::string(input);
          input = rest;
          co_await asio::post(socket_.get_executor(), asio::use_awaitable);
          const auto state = co_await asio::this_coro::cancellation_state;
          if (state.cancelled() != asio::cancellation_type::none) co_return;
          turn_began = Clock::now();
        }
      }
    } catch (const std::exception& failure) {
      log::error(label_ + ": closing the channel after an internal error: " + failure.what());
      co_return;
    }
    const auto& after = decoder_.stats();
    stats_->bytes_discarded += after.discarded_bytes - before.discarded_bytes;
    stats_->frames_discarded += after.oversize - before.oversize;
    if (after.discarded_bytes != before.discarded_bytes) {
      // Normal after a reconnect: stale half-frames of an earlier session.
      log::debug(label_ + ": skipped " +
                 std::to_string(after.discarded_bytes - before.discarded_bytes) +
                 " bytes that were not a whole frame");
    }
    if (after.oversize != before.oversize) {
      // Answered (PROTOCOL.md 2.2) so that a guest does not wait forever for a reply to a
      // request it believes it sent.
      send_error(session_ ? session_->nonce : std::string(), std::nullopt,
                 ErrorCode::invalid_message,
                 "a frame larger than this host's maximum of " +
                     std::to_string(config_.max_frame_bytes) + " bytes was discarded");
    }
  }
}

asio::awaitable<void> ChannelConnection::write_loop() {
  for (;;) {
    while (outbox_.empty()) {
      outbox_ready_.expires_at(Clock::time_point::max());
      co_await outbox_ready_.async_wait(use_nothrow);  // send() cancels it to wake us
      const auto state = co_await asio::this_coro::cancellation_state;
      if (state.cancelled() != asio::cancellation_type::none) co_return;
    }
    // The write may wait a long time (a guest that does not read): samples queued meanwhile
    // are dropped by the outbox, and the lease ends the session.
    auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(outbox_.front()), use_nothrow);
    if (ec) {
      if (ec != asio::error::operation_aborted) {
        log::warning(label_ + ": write failed: " + ec.message());
      }
      co_return;
    }
    outbox_.pop_front();
    if (outbox_.empty() && close_after_flush_) co_return;
  }
}

asio::awaitable<void> ChannelConnection::lease_loop() {
  const auto period = std::max(config_.lease() / 4, std::chrono::milliseconds(5));
  for (;;) {
    lease_timer_.expires_after(period);
    auto [ec] = co_await lease_timer_.async_wait(use_nothrow);
    if (ec) co_return;
    try {
      if (session_ && lease_expired(last_heard_, Clock::now(), config_.lease(), domain_->pause)) {
        // Routine after every guest program (it just exits; virtio-serial gives no EOF); a
        // warning only when counters were still open.
        const std::string what = label_ + ": guest session " + session_->nonce + " silent for " +
                                 std::to_string(config_.lease_ms) + " ms: ";
        if (request_) {
          log::warning(what + "closing its counters");
        } else {
          log::info(what + "session ended");
        }
        end_session(ErrorCode::lease_expired,
                    "no message from the guest for " + std::to_string(config_.lease_ms) +
                        " ms (the lease): the session's counters are closed");
      }
      // Without samples nothing else notices that the domain's vCPUs went away.
      if (request_ && !request_->interval() && request_->measurement().check_threads()) {
        finish_request(protocol::EndReason::domain_stopped);
      }
      if (kind_ == ChannelKind::per_connection && !session_ &&
          Clock::now() - idle_since_ > config_.lease()) {
        log::info(label_ + ": no session for a lease: closing the connection");
        co_return;
      }
    } catch (const std::exception& failure) {
      log::error(label_ + ": closing the channel after an internal error: " + failure.what());
      co_return;
    }
  }
}

asio::awaitable<void> ChannelConnection::sample_loop(std::shared_ptr<CountingRequest> request) {
  const auto self = shared_from_this();
  // The request's counters close whenever it ends (finish_request, end_session), which stops
  // the loop: while it runs, this request is request_ and its session is session_.
  const auto send_sample = [this, &request](MeasurementReading reading) {
    if (sample_hook_) sample_hook_();
    if (send(request->sample(session_->nonce, std::move(reading)), Outbox::Kind::sample)) {
      ++stats_->samples_sent;
    } else {
      request->sample_dropped();
      ++stats_->samples_dropped;
    }
  };
  // A guest that does not read: its samples would be dropped, so they are not read at all
  // (dropped all the same, and counted).
  const auto skip_reading = [this, &request] {
    if (!outbox_.sample_queue_full()) return false;
    request->sample_skipped();
    ++stats_->samples_dropped;
    return true;
  };
  SamplingEnd end = SamplingEnd::stopped;
  try {
    end = co_await sample_at_intervals(
        request->timer(), request->measurement(), *request->interval(), send_sample,
        skip_reading, request->per_vcpu() ? RowCounts::included : RowCounts::omitted);
  } catch (const std::exception& failure) {
    log::error(label_ + ": sampling failed: " + failure.what());
    if (request_ == request) finish_request(protocol::EndReason::error);
    co_return;
  }
  if (end == SamplingEnd::threads_ended && request_ == request) {
    finish_request(protocol::EndReason::domain_stopped);
  }
}

// ---- messages --------------------------------------------------------------------------------

void ChannelConnection::on_payload(protocol::ParseResult parsed) {
  if (const auto* error = std::get_if<protocol::ParseError>(&parsed)) {
    if (const auto suppressed = bad_message_log.admit()) {
      log::warning(label_ + ": bad message from the guest: " + log::printable(error->message) +
                   *suppressed);
    }
    if (error->type != protocol::Error::kType) {
      send_error(error->nonce, error->request_id, error->code, error->message);
    }
    return;
  }
  std::visit([this](const auto& message) { on_message(message); }, std::get<protocol::Message>(parsed));
}

template <class HostToGuest>
void ChannelConnection::on_message(const HostToGuest& message) {
  send_error(message.nonce, std::nullopt, ErrorCode::invalid_message,
             "'" + std::string(HostToGuest::kType) + "' is sent by the host, not by a guest");
}

void ChannelConnection::on_message(const protocol::Error& error) {
  // Never answered: an error about an error could ping-pong forever.
  if (const auto suppressed = guest_error_log.admit()) {
    log::warning(label_ + ": guest reported " + std::string(to_string(error.code)) + ": " +
                 log::printable(error.message) + *suppressed);
  }
}

void ChannelConnection::on_message(const protocol::Hello& hello) {
  last_heard_ = Clock::now();
  const bool replacing = session_.has_value();
  // Whatever is still queued is addressed to an earlier session, whose program is gone: the
  // new one gets its welcome without waiting behind it (the frame being written, if any,
  // is finished first).
  outbox_.drop_all_but_front();
  if (session_) {
    // The same nonce again is the same guest program repeating itself: no notice to send.
    const bool same = session_->nonce == hello.nonce;
    end_session(same ? std::nullopt : std::optional(ErrorCode::session_replaced),
                "a new hello arrived on this channel: this session has ended");
  }
  const std::uint32_t low = std::max(hello.protocol_min, protocol::kMinProtocolVersion);
  const std::uint32_t high = std::min(hello.protocol_max, protocol::kProtocolVersion);
  if (low > high) {
    send_error(hello.nonce, std::nullopt, ErrorCode::unsupported_version,
               "this host speaks protocol versions " +
                   std::to_string(protocol::kMinProtocolVersion) + " to " +
                   std::to_string(protocol::kProtocolVersion) + "; the guest offered " +
                   std::to_string(hello.protocol_min) + " to " + std::to_string(hello.protocol_max));
    return refuse_connection();
  }
  const EffectivePolicy policy = effective_policy(*domain_, config_);
  if (auto refused = check_guest_requests(domain_->name, policy)) {
    send_error(hello.nonce, std::nullopt, ErrorCode::not_permitted, *refused);
    return refuse_connection();
  }
  if (domain_->active_sessions >= config_.max_sessions) {
    send_error(hello.nonce, std::nullopt, ErrorCode::too_many_sessions,
               "domain '" + domain_->name + "' already has " +
                   std::to_string(domain_->active_sessions) +
                   " perfkvm session(s), the most this host allows (perfkvm-hostd --max-sessions)");
    return refuse_connection();
  }
  // Transient, like the host's own limit above: the same code, the policy's words.
  if (auto refused = check_session_count(domain_->active_sessions, domain_->name, policy)) {
    send_error(hello.nonce, std::nullopt, ErrorCode::too_many_sessions, *refused);
    return refuse_connection();
  }
  session_ = GuestSession{hello.nonce, high};
  ++domain_->active_sessions;
  ++stats_->sessions_active;
  ++stats_->sessions_started;
  if (const auto suppressed = replacing ? replacing_session_log.admit() : std::string()) {
    log::info(label_ + ": session " + hello.nonce + " started by " +
              log::printable(hello.agent, 64) + " " + log::printable(hello.agent_version, 64) +
              *suppressed);
  }
  protocol::Welcome welcome;
  welcome.nonce = hello.nonce;
  welcome.protocol = high;
  welcome.agent = "perfkvm-hostd";
  welcome.agent_version = PERFKVM_VERSION;
  welcome.domain_name = domain_->name;
  welcome.domain_uuid = domain_->uuid;
  // The wire's ceiling (a guest would reject a welcome above it): a larger domain is served as
  // its first 4096 vCPUs (admission counts no others).
  welcome.vcpus = std::min(domain_->vcpus, protocol::kMaxVcpus);
  welcome.events = permitted_event_table(event_table_, policy);
  welcome.limits = permitted_limits(policy, config_);
  send(welcome, Outbox::Kind::reply);
}

void ChannelConnection::refuse_connection() {
  if (kind_ == ChannelKind::per_connection) close_after_flush_ = true;
}

bool ChannelConnection::check_session(const std::string& nonce,
                                      std::optional<std::uint64_t> request_id) {
  if (session_ && session_->nonce == nonce) {
    last_heard_ = Clock::now();
    return true;
  }
  send_error(nonce, request_id, ErrorCode::no_session,
             "no session " + nonce + " on this channel (send hello first)");
  return false;
}

void ChannelConnection::on_message(const protocol::Keepalive& keepalive) {
  if (check_session(keepalive.nonce, std::nullopt)) {
    send(protocol::Keepalive{keepalive.nonce}, Outbox::Kind::reply);
  }
}

void ChannelConnection::on_message(const protocol::ListEvents& list) {
  if (check_session(list.nonce, std::nullopt)) {
    send(protocol::Events{list.nonce,
                          permitted_event_table(event_table_, effective_policy(*domain_, config_))},
         Outbox::Kind::reply);
  }
}

bool ChannelConnection::check_running(const std::string& nonce, std::uint64_t request_id) {
  if (request_ && request_->id() == request_id) return true;
  send_error(nonce, request_id, ErrorCode::unknown_request,
             "request " + std::to_string(request_id) + " is not counting" +
                 (request_ ? " (request " + std::to_string(request_->id()) + " is)"
                           : std::string(" (nothing is)")));
  return false;
}

void ChannelConnection::on_message(const protocol::Stop& stop) {
  if (!check_session(stop.nonce, stop.request_id) || !check_running(stop.nonce, stop.request_id)) {
    return;
  }
  finish_request(protocol::EndReason::stopped);
}

void ChannelConnection::on_message(const protocol::Read& read) {
  if (!check_session(read.nonce, read.request_id)) return;
  // A message of a later version than the session's is one its peer would not know (§7).
  if (session_->protocol < protocol::kReadProtocolVersion) {
    send_error(read.nonce, read.request_id, ErrorCode::unknown_type,
               "'read' needs protocol version " +
                   std::to_string(protocol::kReadProtocolVersion) + "; this session speaks " +
                   std::to_string(session_->protocol));
    return;
  }
  if (!check_running(read.nonce, read.request_id)) return;
  const auto now = Clock::now();
  if (const auto wait = request_->read_delay(now); wait.count() > 0) {
    send_error(read.nonce, read.request_id, ErrorCode::rate_limited,
               "reads of request " + std::to_string(read.request_id) +
                   " are over this host's pace (as often as samples at its shortest interval, " +
                   std::to_string(config_.min_interval_ms) + " ms)",
               static_cast<std::uint32_t>(std::min<std::int64_t>(wait.count(), protocol::kMaxIntervalMs)));
    return;
  }
  MeasurementReading reading;
  try {
    reading = request_->measurement().read();
  } catch (const std::exception& failure) {
    log::error(label_ + ": reading request " + std::to_string(read.request_id) +
               " failed: " + failure.what());
    return finish_request(protocol::EndReason::error);
  }
  // A reply, not a sample: the guest waits for it, so it is never dropped as samples are.
  send(request_->read_answer(read.nonce, std::move(reading), read.read_id, now),
       Outbox::Kind::reply);
}

void ChannelConnection::on_message(const protocol::Start& start) {
  if (!check_session(start.nonce, start.request_id)) return;
  // Opening counters is the one costly thing a guest can ask for: the domain's starts are
  // paced (start_budget.hpp), every start within the rate charged, admitted or not: a refused
  // one may have cost a scan of /proc.
  if (const auto refused = domain_->start_budget->charge_start(Clock::now())) {
    send_error(start.nonce, start.request_id, ErrorCode::rate_limited, refused->message,
               refused->retry_after_ms);
    return;
  }
  try {
    start_counting(start);
  } catch (const std::exception& failure) {
    log::error(label_ + ": request " + std::to_string(start.request_id) +
               " failed to start: " + failure.what());
    request_.reset();
    const StartRefusal refusal = setup_failure(failure.what());
    send_error(start.nonce, start.request_id, refusal.code, refusal.message);
  }
}

void ChannelConnection::start_counting(const protocol::Start& start) {
  const std::optional<std::uint64_t> running =
      request_ ? std::optional(request_->id()) : std::nullopt;
  StartDecision decision = check_start(start, running, *domain_, config_, domain_->resolve_threads);
  if (const auto* refusal = std::get_if<StartRefusal>(&decision)) {
    if (!refusal->host_detail.empty()) {
      // Bounded by the domain's start rate, as every start's work is.
      log::warning(label_ + ": request " + std::to_string(start.request_id) + " refused (" +
                   std::string(to_string(refusal->code)) + "): " + refusal->host_detail);
    }
    return send_error(start.nonce, start.request_id, refusal->code, refusal->message);
  }
  auto& admitted = std::get<AdmittedStart>(decision);
  if (const auto refused =
          domain_->start_budget->charge_counters(admitted.counters(), Clock::now())) {
    return send_error(start.nonce, start.request_id, ErrorCode::rate_limited, refused->message,
                      refused->retry_after_ms);
  }
  // Admission found room in both budgets, and nothing ran since: taking them cannot fail.
  auto share = config_.host_counters->take(admitted.counters());
  auto domain_share = domain_->counters->take(admitted.counters());
  auto reads_share = domain_->reads->take(admitted.reads_per_second);
  if (!share || !domain_share || !reads_share) {
    throw std::logic_error("a counter budget changed during admission");
  }

  const std::vector<VcpuThread> counted = admitted.threads;
  request_ = std::make_shared<CountingRequest>(
      socket_.get_executor(), start,
      Measurement(std::move(admitted.threads), std::move(admitted.plan)),
      CountingRequest::Shares{std::move(*share), std::move(*domain_share),
                              std::move(*reads_share)},
      1000 / std::max<std::uint32_t>(config_.min_interval_ms, 1));
  Measurement& measurement = request_->measurement();
  measurement.start();
  // A thread id can be reused between the lookup and perf_event_open (the vCPU thread exited
  // and another thread took its id): once the counters are open the threads are looked up
  // again, and a counted one that is no longer its vCPU's ends the start.
  if (const auto replaced = replaced_thread(counted, domain_->resolve_threads())) {
    request_->close();
    request_.reset();
    log::warning(label_ + ": request " + std::to_string(start.request_id) + ": thread " +
                 std::to_string(replaced->tid) + " of vCPU " + std::to_string(replaced->vcpu) +
                 " changed while its counters were opened; start refused");
    return send_error(start.nonce, start.request_id, ErrorCode::domain_unavailable,
                      "a vCPU thread of domain '" + domain_->name +
                          "' changed while its counters were opened (the domain is changing); "
                          "start again");
  }
  ++stats_->requests_started;
  std::string counted_vcpus;
  for (const auto vcpu : measurement.vcpus()) {
    counted_vcpus += (counted_vcpus.empty() ? "" : ",") + std::to_string(vcpu);
  }
  log::info(label_ + ": request " + std::to_string(start.request_id) + " counting " +
            std::to_string(start.events.size()) + " events on vCPUs " + counted_vcpus +
            " (threads from " + admitted.thread_source + ")");
  send(protocol::Started{start.nonce, start.request_id, measurement.columns(), measurement.vcpus(),
                         start.interval_ms},
       Outbox::Kind::reply);
  if (request_->interval()) {
    asio::co_spawn(socket_.get_executor(), sample_loop(request_),
                   log_exceptions(label_ + ": sampler"));
  }
}

void ChannelConnection::policy_changed() {
  if (!request_) return;  // new starts are checked against the new policy anyway
  const auto refused =
      check_start_policy(request_->start(), domain_->name, effective_policy(*domain_, config_));
  if (!refused) return;
  log::info(label_ + ": request " + std::to_string(request_->id()) +
            " ends: the domain's policy changed: " + *refused);
  send_error(session_->nonce, request_->id(), ErrorCode::not_permitted,
             "the policy changed: " + *refused + "; counting stopped (the report holds the "
             "counts up to now)");
  finish_request(protocol::EndReason::error);
}

void ChannelConnection::finish_request(protocol::EndReason reason) {
  const auto request = std::exchange(request_, nullptr);
  const auto report = request->finish(session_->nonce, reason);
  log::info(label_ + ": request " + std::to_string(report.request_id) + " " +
            std::string(to_string(reason)) + " after " +
            std::to_string(report.duration_ns / 1'000'000) + " ms");
  send(report, Outbox::Kind::reply);
}

void ChannelConnection::end_session(std::optional<ErrorCode> notify, const std::string& why) {
  if (!session_) return;
  std::optional<std::uint64_t> ended_request;
  if (request_) {
    log::info(label_ + ": request " + std::to_string(request_->id()) + " ended: " + why);
    ended_request = request_->id();
    request_->close();
    request_.reset();
  }
  if (notify) send_error(session_->nonce, ended_request, *notify, why);
  if (dropped_replies_ > 0) {
    log::warning(label_ + ": session " + session_->nonce + " ended with " +
                 std::to_string(dropped_replies_) + " replies dropped (the guest did not read)");
    dropped_replies_ = 0;
  }
  --domain_->active_sessions;
  --stats_->sessions_active;
  session_.reset();
  idle_since_ = Clock::now();
}

// ---- sending ---------------------------------------------------------------------------------

void ChannelConnection::send_error(const std::string& nonce, std::optional<std::uint64_t> request_id,
                                   ErrorCode code, const std::string& message,
                                   std::optional<std::uint32_t> retry_after_ms) {
  ++stats_->errors_sent[code];
  // Messages may quote what the guest sent: keep them within the protocol's limit.
  std::string text = message;
  if (text.size() > protocol::kMaxMessageLength) {
    std::size_t cut = protocol::kMaxMessageLength - 3;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    text = text.substr(0, cut) + "...";
  }
  send(protocol::Error{protocol::is_valid_nonce(nonce) ? nonce : std::string(), request_id, code,
                       std::move(text), retry_after_ms},
       Outbox::Kind::reply);
}

bool ChannelConnection::send(const protocol::Message& message, Outbox::Kind kind) {
  std::string frame;
  try {
    frame = protocol::encode_message(message, config_.max_frame_bytes);
  } catch (const std::invalid_argument& unsendable) {
    log::error(label_ + ": cannot send '" + std::string(protocol::type_name(message)) +
               "': " + unsendable.what());
    return false;
  }
  if (outbox_.empty()) {
    // Nothing queued, so nothing is being written: write now, without waking the writer (on
    // the sampling path that round trip through the scheduler cost more than the write).
    boost::system::error_code ec;
    const std::size_t written = socket_.write_some(asio::buffer(frame), ec);
    if (written == frame.size()) return true;
    if (written > 0) {
      // The rest of a frame that has begun must follow it, whatever its kind: queued as a
      // reply, which the bound never drops from an empty outbox.
      frame.erase(0, written);
      kind = Outbox::Kind::reply;
    }
    // would_block: the writer waits for the guest; another error: the writer reports it.
  }
  if (!outbox_.push(std::move(frame), kind)) {
    // Logged once per session, counted at its end: a guest that queues thousands of requests
    // and never reads must not flood hostd's log.
    if (kind == Outbox::Kind::reply && dropped_replies_++ == 0) {
      log::warning(label_ + ": guest is not reading; dropping replies (first: '" +
                   std::string(protocol::type_name(message)) + "')");
    }
    return false;
  }
  outbox_ready_.cancel();
  return true;
}

}  // namespace perfkvm::host
