// Hostile guests (issue [policy] §2): what a guest program can send hostd on its own channel,
// at full speed, while another domain's guest samples on the same io_context. The host side is
// the real session code (session_harness.hpp); the hostile guest is driven from a thread of its
// own, writing raw bytes to its socket end and reading the answers with poll(2), so that the
// test's main thread does nothing but serve hostd's io_context and take the victim's samples.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <future>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "host-agent/transport/vsock_listener.hpp"
#include "protocol/events.hpp"
#include "sample_intervals.hpp"
#include "session_harness.hpp"
#include "util/log.hpp"

namespace perfkvm::test {
namespace {

using namespace perfkvm::host;
using namespace perfkvm::protocol;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// ---- the hostile guest's end of its channel ---------------------------------------------------

// Raw bytes out, frames in, with poll(2): never the io_context, which only the main thread runs
// (as hostd runs it on its one thread). Throws when the host closes the channel or stops
// reading for 5 s: a persistent channel is never cut, so either is a finding in itself.
class RawGuest {
 public:
  explicit RawGuest(UniqueFd fd) : fd_(std::move(fd)) {
    ::fcntl(fd_.get(), F_SETFL, ::fcntl(fd_.get(), F_GETFL) | O_NONBLOCK);
  }

  void write(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n > 0) {
        bytes.remove_prefix(static_cast<std::size_t>(n));
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        throw std::runtime_error(std::string("hostile guest: write failed: ") +
                                 std::strerror(errno));
      } else if (!wait_for(POLLOUT, 5000ms)) {
        throw std::runtime_error("hostile guest: the host has not read for 5 s");
      }
    }
  }
  void send(const Message& message) { write(encode_message(message)); }

  // The next frame, parsed; nullopt if none arrives within `timeout` (0: only what is there).
  std::optional<Message> read(milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      std::string_view rest = pending_;
      if (auto payload = decoder_.next(rest)) {
        pending_ = std::string(rest);
        auto parsed = parse_message(*payload);
        if (auto* error = std::get_if<ParseError>(&parsed)) {
          throw std::runtime_error("hostile guest: host sent an invalid message: " +
                                   error->message);
        }
        return std::get<Message>(std::move(parsed));
      }
      pending_.clear();
      char buffer[65536];
      const ssize_t n = ::recv(fd_.get(), buffer, sizeof buffer, 0);
      if (n > 0) {
        pending_.assign(buffer, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0) throw std::runtime_error("hostile guest: the host closed the channel");
      const auto left = std::chrono::ceil<milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return std::nullopt;
      wait_for(POLLIN, left);
    }
  }

 private:
  bool wait_for(short events, milliseconds timeout) {
    pollfd poller{fd_.get(), events, 0};
    return ::poll(&poller, 1, static_cast<int>(timeout.count())) > 0;
  }

  UniqueFd fd_;
  FrameDecoder decoder_;
  std::string pending_;
};

std::string describe(const std::optional<Message>& message) {
  if (!message) return "nothing";
  if (const auto* error = std::get_if<Error>(&*message)) {
    std::ostringstream text;
    text << "error " << to_string(error->code) << " '" << error->message.substr(0, 160)
         << "' nonce '" << error->nonce << "' request_id "
         << (error->request_id ? std::to_string(*error->request_id) : "none");
    return text.str();
  }
  return "'" + std::string(type_name(*message)) + "' nonce '" + nonce_of(*message) + "'";
}

// What the hostile guest found wrong in hostd's answers: gathered on its thread, checked on
// the main thread once the strike is over.
struct Findings {
  std::uint64_t wrong = 0;
  std::vector<std::string> first;  // the first few, for the failure message

  void report(std::string what) {
    if (first.size() < 6) first.push_back(std::move(what));
    ++wrong;
  }
  std::string text() const {
    std::string all;
    for (const auto& line : first) all += "\n  " + line;
    return std::to_string(wrong) + " wrong answer(s):" + all;
  }
};

// The guest program that attacks, with what its strikes did (for the host-side checks).
struct Hostile {
  explicit Hostile(UniqueFd fd) : guest(std::move(fd)) {}

  RawGuest guest;
  Findings findings;
  std::string nonce;  // its current session
  std::uint64_t next_request = 1;
  std::uint64_t nonces_used = 0;
  std::string summary;  // what the strikes did, for the MESSAGE

  std::uint64_t garbage_bytes = 0, oversize_frames = 0, half_frames = 0, rate_limited = 0,
                started = 0, invalid_messages = 0, invalid_json = 0, hellos = 0,
                samples_dropped = 0, replies_dropped = 0, frames_sent = 0;
  std::vector<EventStatus> event_table;  // as its welcome gave it

  std::string fresh_nonce() {
    char text[17];
    std::snprintf(text, sizeof text, "%016llx",
                  static_cast<unsigned long long>(0xbad0000000000000ull + ++nonces_used));
    return text;
  }

  // Runs `act`; what it throws (the host closed the channel, or stopped reading) is a finding,
  // and the battery goes on with the next attack.
  template <class Act>
  void guarded(Act act) {
    try {
      act();
    } catch (const std::exception& failure) {
      findings.report(std::string("the guest's end of the channel failed: ") + failure.what());
    }
  }

  // The next frame within 3 s, or the finding that none came.
  std::optional<Message> answer() {
    auto message = guest.read(3000ms);
    if (!message) findings.report("no answer within 3 s");
    return message;
  }

  // An error of exactly this code, nonce, request id and (if given) message.
  void expect_error(ErrorCode code, std::string_view message, std::string_view to_nonce,
                    std::optional<std::uint64_t> request_id) {
    const auto got = answer();
    const auto* error = got ? std::get_if<Error>(&*got) : nullptr;
    if (!error || error->code != code || (!message.empty() && error->message != message) ||
        error->nonce != to_nonce || error->request_id != request_id) {
      findings.report("expected error " + std::string(to_string(code)) + " '" +
                      std::string(message) + "' to nonce '" + std::string(to_nonce) + "', got " +
                      describe(got));
    }
  }

  // A keepalive, answered by its echo as the very next frame: whatever was sent before it got
  // no answer at all.
  void expect_echo() {
    guest.send(Keepalive{nonce});
    const auto got = answer();
    if (!got || !std::holds_alternative<Keepalive>(*got) || nonce_of(*got) != nonce) {
      findings.report("expected the keepalive echo, got " + describe(got));
    }
  }

  // hello with a fresh nonce; welcome expected, perhaps behind replies to earlier sessions
  // (which it must skip, as a guest drops what is not addressed to its nonce). How long it took.
  milliseconds say_hello() {
    const std::string fresh = fresh_nonce();
    const auto began = Clock::now();
    guest.send(Hello{fresh, 1, 1, "hostile", "6.6.6"});
    for (;;) {
      const auto got = guest.read(3000ms);
      if (!got) {
        findings.report("no welcome to hello " + fresh + " within 3 s");
        break;
      }
      if (const auto* welcome = std::get_if<Welcome>(&*got); welcome && welcome->nonce == fresh) {
        event_table = welcome->events;
        break;
      }
      if (nonce_of(*got) == fresh) {
        findings.report("hello " + fresh + " answered with " + describe(got));
        break;
      }
    }
    nonce = fresh;
    return std::chrono::duration_cast<milliseconds>(Clock::now() - began);
  }

  Start start_of(std::vector<std::string> events, std::optional<std::uint32_t> interval = {}) {
    Start s;
    s.nonce = nonce;
    s.request_id = next_request++;
    s.events = std::move(events);
    s.interval_ms = interval;
    return s;
  }

  // stop, answered by the report (samples of the request before it are skipped and returned).
  std::optional<Report> stop(std::uint64_t request_id, std::vector<Sample>* samples = nullptr) {
    guest.send(Stop{nonce, request_id});
    return stop_answered(request_id, samples);
  }
  // The report that answers a stop already sent.
  std::optional<Report> stop_answered(std::uint64_t request_id,
                                      std::vector<Sample>* samples = nullptr) {
    for (;;) {
      const auto got = answer();
      if (!got) return std::nullopt;
      if (const auto* sample = std::get_if<Sample>(&*got);
          sample && sample->request_id == request_id) {
        if (samples) samples->push_back(*sample);
        continue;
      }
      const auto* report = std::get_if<Report>(&*got);
      if (report && report->request_id == request_id && report->reason == EndReason::stopped) {
        return *report;
      }
      findings.report("expected the report of request " + std::to_string(request_id) + ", got " +
                      describe(got));
      return std::nullopt;
    }
  }
};

// A start payload written by hand: the attacks below send what no encoder would.
std::string raw_start(const std::string& nonce, std::uint64_t id, const std::string& fields) {
  return "{\"type\":\"start\",\"nonce\":\"" + nonce + "\",\"request_id\":" + std::to_string(id) +
         ",\"events\":[\"task-clock\"]" + fields + "}";
}

// Frames and the answer each must get.

struct Expected {
  std::string frame;
  ErrorCode code;
  std::string message;
  std::string nonce;
  std::optional<std::uint64_t> request_id;
};

// Writes all of `batch` at once, again and again until `until`, checking every answer in order:
// parse errors are not charged to the start rate, so they can come as fast as the guest writes.
void pipeline(Hostile& hostile, const std::vector<Expected>& batch, Clock::time_point until) {
  std::string burst;
  for (const auto& frame : batch) burst += frame.frame;
  while (Clock::now() < until) {
    hostile.guest.write(burst);
    for (const auto& expected : batch) {
      hostile.expect_error(expected.code, expected.message, expected.nonce, expected.request_id);
    }
    for (const auto& expected : batch) {
      (expected.code == ErrorCode::invalid_json ? hostile.invalid_json
                                                : hostile.invalid_messages)++;
    }
  }
}

// ---- the victim's samples -----------------------------------------------------------------------

// A guest of another domain sampling at 20 ms, and hostd's thread's CPU wait at each reading
// (its channel's sampler calls the hook on hostd's thread, once per reading, in seq order).
class Victim {
 public:
  Victim(TestGuest& guest, ChannelConnection& channel) : guest_(guest) {
    channel.set_sample_hook_for_testing([this] { cpu_wait_at_seq_.push_back(cpu_wait_ns()); });
  }

  // Takes the samples arriving for `duration` (the io_context runs meanwhile) into `into`
  // (null: not measured).
  void take_samples(milliseconds duration, Intervals* into) {
    const auto end = Clock::now() + duration;
    while (Clock::now() < end) {
      auto message = guest_.try_receive(10ms);
      if (!message) continue;
      if (std::holds_alternative<Keepalive>(*message)) continue;  // its own lease's echo
      const auto* sample = std::get_if<Sample>(&*message);
      REQUIRE_MESSAGE(sample, "victim: expected a sample, got " << describe(message));
      REQUIRE(sample->seq <= cpu_wait_at_seq_.size());
      if (last_seq_ != 0) {
        missing_ += sample->seq - last_seq_ - 1;
        if (into) {
          const double gap = static_cast<double>(sample->elapsed_ns - last_elapsed_ns_) / 1e6;
          const double waited = static_cast<double>(cpu_wait_at_seq_[sample->seq - 1] -
                                                    cpu_wait_at_seq_[last_seq_ - 1]) /
                                1e6;
          into->add(gap, waited);
        }
      }
      last_seq_ = sample->seq;
      last_elapsed_ns_ = sample->elapsed_ns;
    }
  }
  std::uint64_t missing() const { return missing_; }

 private:
  TestGuest& guest_;
  std::vector<std::uint64_t> cpu_wait_at_seq_;  // [seq - 1]
  std::uint64_t last_seq_ = 0;
  std::uint64_t last_elapsed_ns_ = 0;
  std::uint64_t missing_ = 0;
};

// Runs `work` on a thread of its own while this thread serves the io_context and takes the
// victim's samples into `into`, until `work` is done and `at_least_until` has passed. The thread
// runs at the lowest priority, as export_test.cpp's attacker: on two cores its CPU time would
// otherwise be taken from hostd's thread whenever anything else runs, and the test would measure
// the scheduler; a guest attacking from its vCPU has a core of its own.
template <class Work>
void while_hostile_acts(Victim& victim, Intervals* into, Work work,
                        Clock::time_point at_least_until = {}) {
  auto done = std::async(std::launch::async, [&work] {
    ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 19);
    work();
  });
  while (done.wait_for(0s) != std::future_status::ready || Clock::now() < at_least_until) {
    victim.take_samples(5ms, into);
  }
  done.get();
}

// hostd's log (its stderr) diverted into a temporary file while this lives, to count the lines
// an attack made it write: a guest must not be able to flood hostd's log (journald's rate limit
// would then drop every guest's lines and hostd's own).
class LogCapture {
 public:
  LogCapture() : file_(std::tmpfile()), saved_(::dup(STDERR_FILENO)) {
    REQUIRE(file_ != nullptr);
    std::fflush(stderr);
    ::dup2(::fileno(file_), STDERR_FILENO);
  }
  ~LogCapture() {
    std::fflush(stderr);
    ::dup2(saved_.get(), STDERR_FILENO);
    std::fclose(file_);
  }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  struct Lines {
    std::size_t all = 0, warnings = 0;
    std::string first_warning;
  };
  Lines lines() const {
    std::fflush(stderr);
    Lines lines;
    std::string line;
    char buffer[65536];
    off_t at = 0;
    for (ssize_t n; (n = ::pread(::fileno(file_), buffer, sizeof buffer, at)) > 0; at += n) {
      for (const char c : std::string_view(buffer, static_cast<std::size_t>(n))) {
        if (c != '\n') {
          line += c;
          continue;
        }
        ++lines.all;
        if (line.find(": warning: ") != std::string::npos && lines.warnings++ == 0) {
          lines.first_warning = line;
        }
        line.clear();
      }
    }
    return lines;
  }

 private:
  std::FILE* file_;
  UniqueFd saved_;
};

// ---- the attacks ----------------------------------------------------------------------------

// What the host must look like after a strike, checked on hostd's thread.
struct HostView {
  const ChannelConnection& connection;
  const DomainContext& domain;
  const SessionConfig& config;
  DecoderStats decoder_before;  // the hostile channel's, before the strike
  SessionStats stats_before;    // all sessions', before the strike
  std::size_t fds_idle;         // this process's fds with the hostile session idle
  std::uint64_t counters_idle;  // the host budget's in_use() then (the victim's counters)

  std::uint64_t errors_total_since() const {
    std::uint64_t now = 0, then = 0;
    for (const auto& [code, count] : config.stats->errors_sent) now += count;
    for (const auto& [code, count] : stats_before.errors_sent) then += count;
    return now - then;
  }
  std::uint64_t errors_since(ErrorCode code) const {
    const auto now = config.stats->errors_sent.find(code);
    const auto then = stats_before.errors_sent.find(code);
    return (now == config.stats->errors_sent.end() ? 0 : now->second) -
           (then == stats_before.errors_sent.end() ? 0 : then->second);
  }
};

struct Attack {
  std::string name;
  // On the hostile guest's thread: attacks until `until` (or a little beyond, to finish what it
  // began), checking every answer.
  std::function<void(Hostile&, Clock::time_point until)> strike;
  // On hostd's thread after each strike: what the host's own state must say.
  std::function<void(const HostView&, const Hostile&)> check_host = [](const HostView&,
                                                                       const Hostile&) {};
  int buffer_bytes = 0;  // the channel's socket buffers (0: the kernel's default)
};

std::string garbage_chunk() {
  // Random bytes, but 0xFF is never followed by 'P': no header ever gets past its second byte,
  // so no frame can form and every byte is discarded (and none is answered, PROTOCOL.md §2.2).
  std::mt19937 random(20240607);
  std::string chunk(64 * 1024, '\0');
  for (auto& byte : chunk) byte = static_cast<char>(random() & 0xFF);
  for (std::size_t i = 0; i + 1 < chunk.size(); ++i) {
    if (chunk[i] == '\xFF' && chunk[i + 1] == 'P') chunk[i + 1] = 'Q';
  }
  chunk.back() = 'x';  // repeated back to back: a last 0xFF would meet the next chunk's first byte
  return chunk;
}

// The attacks whose single writes are the most work for hostd (64 KiB of frames it must each
// answer: bad frames, list-events, hellos) write once every this long. What they test is one
// read's worth of work, which hostd must share out with other channels' timers (it did not: the
// victim waited for the whole batch, +10 ms and more at p99). Written back to back they would
// also keep hostd's one thread busy all the time, which costs the other guests CPU, not timer
// slots, and which the intervals less hostd's CPU waits (Intervals) are not meant to measure.
constexpr auto kWritePeriod = 50ms;

std::string frame_header_claiming(std::uint32_t length) {
  const auto header = frame_header(length);
  return std::string(header.begin(), header.end());
}

// hostd reads a channel 64 KiB at a time (channel_connection.cpp's kReadChunk).
constexpr std::size_t kHostdRead = 64 * 1024;

// 64 KiB of `frame` in each write, once each kWritePeriod until `until`: hostd reads each write
// at once, and must share the work out with other channels' timers. Every answer must be
// `is_the_answer`, but a guest reading only between its writes gets few of them (the outbox
// bounds what waits for it). Then a keepalive, until one's echo comes: an echo is a reply like
// the answers, and dropped too while the outbox is full. How many frames it sent.
std::uint64_t packed_strike(Hostile& hostile, Clock::time_point until, const std::string& frame,
                            const std::function<bool(const Message&)>& is_the_answer) {
  std::string chunk;
  while (chunk.size() + frame.size() <= kHostdRead) chunk += frame;
  std::uint64_t sent = 0, answers = 0;
  const auto take = [&](const std::optional<Message>& got) {
    if (!got) return false;
    if (std::holds_alternative<Keepalive>(*got) && nonce_of(*got) == hostile.nonce) return true;
    if (is_the_answer(*got)) {
      ++answers;
    } else {
      hostile.findings.report("a packed frame answered with " + describe(got));
    }
    return false;
  };
  for (auto next = Clock::now(); Clock::now() < until; next += kWritePeriod) {
    hostile.guest.write(chunk);
    sent += chunk.size() / frame.size();
    while (Clock::now() < next + kWritePeriod) {
      const auto left = std::chrono::ceil<milliseconds>(next + kWritePeriod - Clock::now());
      if (auto got = hostile.guest.read(std::max(left, 0ms))) take(got);
    }
  }
  const auto deadline = Clock::now() + 3s;
  bool echoed = false;
  while (!echoed && Clock::now() < deadline) {
    hostile.guest.send(Keepalive{hostile.nonce});
    while (!echoed) {
      const auto got = hostile.guest.read(200ms);
      if (!got) break;
      echoed = take(got);
    }
  }
  if (!echoed) hostile.findings.report("no keepalive echo after the packed frames");
  hostile.summary = std::to_string(sent) + " frames in the last strike, " +
                    std::to_string(answers) + " answers read";
  return sent;
}

std::vector<Attack> attacks() {
  std::vector<Attack> all;

  all.push_back({"garbage at full speed",
                 [](Hostile& hostile, Clock::time_point until) {
                   static const std::string chunk = garbage_chunk();
                   while (Clock::now() < until) {
                     hostile.guest.write(chunk);
                     hostile.garbage_bytes += chunk.size();
                   }
                   hostile.expect_echo();
                 },
                 [](const HostView& host, const Hostile& hostile) {
                   // Every byte thrown away and counted once, none taken for a frame; the
                   // keepalive after them is the strike's one frame.
                   const auto& now = host.connection.decoder_stats();
                   CHECK(now.discarded_bytes - host.decoder_before.discarded_bytes ==
                         hostile.garbage_bytes);
                   CHECK(now.frames - host.decoder_before.frames == 1);
                   CHECK(now.oversize == host.decoder_before.oversize);
                 }});

  all.push_back({"bad frames packed 6,500 to a write",
                 [](Hostile& hostile, Clock::time_point until) {
                   // The smallest frame there is ({}: "type: missing field").
                   hostile.invalid_messages +=
                       packed_strike(hostile, until, encode_frame("{}"), [](const Message& got) {
                         const auto* error = std::get_if<Error>(&got);
                         return error && error->code == ErrorCode::invalid_message &&
                                error->message == "type: missing field" && error->nonce.empty() &&
                                !error->request_id;
                       });
                 },
                 [](const HostView& host, const Hostile& hostile) {
                   // Every one answered (counted when sent; most dropped for this guest).
                   CHECK(host.errors_since(ErrorCode::invalid_message) == hostile.invalid_messages);
                   CHECK(host.connection.decoder_stats().frames - host.decoder_before.frames >=
                         hostile.invalid_messages + 1);
                 }});

  all.push_back(
      {"20 start/stop pairs of 16 events in one write",
       [](Hostile& hostile, Clock::time_point until) {
         // Within the start rate (a second's worth at once), each start opening 32 counters
         // (16 events on 2 vCPUs) and its stop closing them: a millisecond or more of work a
         // pair, which hostd must not do all in one go while other channels' timers wait. (One
         // start it cannot divide: opening a counter costs tens of microseconds, at times
         // milliseconds on a busy host, so a start of 32 events on 2 vCPUs can itself take
         // 5 ms; what hostd must not do is add up twenty of them.)
         const std::vector<std::string> eight = {
             "task-clock",     "cpu-clock",    "page-faults",  "context-switches",
             "cpu-migrations", "minor-faults", "major-faults", "alignment-faults"};
         std::vector<std::string> events;
         for (int i = 0; i < 2; ++i) events.insert(events.end(), eight.begin(), eight.end());
         std::string batch;
         std::vector<std::uint64_t> ids;
         for (int i = 0; i < 20; ++i) {
           const Start s = hostile.start_of(events);
           ids.push_back(s.request_id);
           batch += encode_message(s) + encode_message(Stop{hostile.nonce, s.request_id});
         }
         hostile.guest.write(batch);
         // Each pair: started and its report, or (beyond the rate, once the second's worth
         // is spent) rate-limited and unknown-request for its stop.
         for (const auto id : ids) {
           const auto first = hostile.answer();
           if (!first) return;
           if (const auto* started = std::get_if<Started>(&*first)) {
             const auto report = hostile.stop_answered(id);
             if (started->request_id != id || started->columns.size() != 16 || !report ||
                 report->columns != started->columns) {
               hostile.findings.report("start " + std::to_string(id) + ": " + describe(first));
             }
             ++hostile.started;
             continue;
           }
           const auto* error = std::get_if<Error>(&*first);
           if (!error || error->code != ErrorCode::rate_limited || error->request_id != id ||
               !error->retry_after_ms ||
               error->message !=
                   "this domain may start 20 requests per second (perfkvm-hostd "
                   "--max-starts); retry in " +
                       std::to_string(*error->retry_after_ms) + " ms") {
             hostile.findings.report("start " + std::to_string(id) + ": " + describe(first));
           }
           hostile.expect_error(ErrorCode::unknown_request,
                                "request " + std::to_string(id) + " is not counting (nothing is)",
                                hostile.nonce, id);
           ++hostile.rate_limited;
         }
         if (hostile.started == 0) hostile.findings.report("no start of the 20 was admitted");
         hostile.summary = "last strike: " + std::to_string(hostile.started) + " started, " +
                           std::to_string(hostile.rate_limited) + " rate-limited";
         const auto left = std::chrono::ceil<milliseconds>(until - Clock::now());
         if (auto got = hostile.guest.read(std::max(left, 0ms))) {
           hostile.findings.report("unasked for: " + describe(got));
         }
       },
       [](const HostView& host, const Hostile& hostile) {
         CHECK(host.config.stats->requests_started - host.stats_before.requests_started ==
               hostile.started);
         CHECK(host.errors_since(ErrorCode::rate_limited) == hostile.rate_limited);
         CHECK(host.config.host_counters->in_use() == host.counters_idle);
         CHECK(process_fds() == host.fds_idle);
       }});

  all.push_back({"list-events packed 1,200 to a write",
                 [](Hostile& hostile, Clock::time_point until) {
                   // 55 bytes that ask for the whole event table (1.6 KiB to encode): the most work
                   // a byte from a guest can ask of hostd, 10 ms of it in one read.
                   hostile.frames_sent +=
                       packed_strike(hostile, until, encode_message(ListEvents{hostile.nonce}),
                                     [&](const Message& got) {
                                       const auto* events = std::get_if<Events>(&got);
                                       return events && events->nonce == hostile.nonce &&
                                              events->events == hostile.event_table;
                                     });
                 },
                 [](const HostView& host, const Hostile& hostile) {
                   CHECK(host.connection.decoder_stats().frames - host.decoder_before.frames >=
                         hostile.frames_sent + 1);
                   CHECK(host.errors_total_since() == 0);
                 }});

  all.push_back({"a frame header claiming 4 GiB",
                 [](Hostile& hostile, Clock::time_point until) {
                   // 0xFEFEFEFE bytes (4 GiB less 16 MiB: no length byte may be 0xFF, §2.1), then
                   // a quarter of a MiB of what it claims to be its payload.
                   const std::string oversize =
                       frame_header_claiming(0xFEFEFEFEu) + std::string(256 * 1024, 'A');
                   // 0xFFFFFFFF, the full 4 GiB: a 0xFF in a length can only be a frame start, so
                   // this is a bad header, which is not answered.
                   const std::string all_ones =
                       "\xFF"
                       "PK\x01\xFF\xFF\xFF\xFF";
                   while (Clock::now() < until) {
                     hostile.guest.write(oversize);
                     ++hostile.oversize_frames;
                     hostile.expect_error(
                         ErrorCode::invalid_message,
                         "a frame larger than this host's maximum of 1048576 bytes was discarded",
                         hostile.nonce, std::nullopt);
                     hostile.guest.write(all_ones);
                     hostile.expect_echo();
                   }
                 },
                 [](const HostView& host, const Hostile& hostile) {
                   const auto& now = host.connection.decoder_stats();
                   CHECK(now.oversize - host.decoder_before.oversize == hostile.oversize_frames);
                   CHECK(host.config.stats->frames_discarded - host.stats_before.frames_discarded ==
                         hostile.oversize_frames);
                   CHECK(host.errors_since(ErrorCode::invalid_message) == hostile.oversize_frames);
                 }});

  all.push_back({"a half frame then silence",
                 [](Hostile& hostile, Clock::time_point until) {
                   // The previous strike's half frame is still in the decoder: the keepalive's
                   // 0xFF ends it, and only the keepalive is answered.
                   if (hostile.half_frames > 0) hostile.expect_echo();
                   const std::string frame =
                       encode_message(hostile.start_of({"task-clock", "context-switches"}, 20));
                   hostile.guest.write(frame.substr(0, frame.size() / 2));
                   ++hostile.half_frames;
                   // Silence; hostd must neither answer nor wait for the rest.
                   const auto left = std::chrono::ceil<milliseconds>(until - Clock::now());
                   if (auto got = hostile.guest.read(std::max(left, 0ms))) {
                     hostile.findings.report("answered a half frame with " + describe(got));
                   }
                 },
                 [](const HostView& host, const Hostile& hostile) {
                   // Every half frame but the one still pending was counted as cut short.
                   CHECK(host.connection.decoder_stats().truncated == hostile.half_frames - 1);
                   CHECK_FALSE(host.connection.counting());
                   CHECK(host.config.stats->requests_started == host.stats_before.requests_started);
                 }});

  all.push_back(
      {"10,000 starts a second",
       [](Hostile& hostile, Clock::time_point until) {
         // 50 starts every 5 ms, never more than 150 unanswered: their answers then fit
         // the socket's buffer (each small frame takes about 1 KiB of it), so hostd
         // drops none of them for a guest that reads.
         std::uint64_t first = hostile.next_request, answered = first, sent = first;
         std::optional<std::uint64_t> running;
         std::uint64_t admitted = 0;  // started, or busy: within the rate
         const auto began = Clock::now();
         auto next_batch = began;
         const auto check = [&](const Message& got) {
           const std::uint64_t id = answered++;
           if (const auto* started = std::get_if<Started>(&got)) {
             if (started->request_id != id || running) {
               hostile.findings.report("unexpected started for " + std::to_string(id));
             }
             running = id;
             ++admitted;
             ++hostile.started;
             return;
           }
           const auto* error = std::get_if<Error>(&got);
           if (error && error->code == ErrorCode::busy && running && error->request_id == id &&
               error->nonce == hostile.nonce &&
               error->message == "request " + std::to_string(*running) +
                                     " is still counting on this channel; stop it first") {
             ++admitted;
             return;
           }
           if (error && error->code == ErrorCode::rate_limited && error->request_id == id &&
               error->nonce == hostile.nonce && error->retry_after_ms &&
               *error->retry_after_ms >= 1 && *error->retry_after_ms <= 50 &&
               error->message ==
                   "this domain may start 20 requests per second (perfkvm-hostd "
                   "--max-starts); retry in " +
                       std::to_string(*error->retry_after_ms) + " ms") {
             ++hostile.rate_limited;
             return;
           }
           hostile.findings.report("start " + std::to_string(id) + " answered with " +
                                   describe(got));
         };
         while (Clock::now() < until) {
           if (Clock::now() >= next_batch && sent - answered < 150) {
             std::string batch;
             for (int i = 0; i < 50; ++i) {
               Start s;
               s.nonce = hostile.nonce;
               s.request_id = sent++;
               s.events = {"task-clock"};
               batch += encode_message(s);
             }
             hostile.guest.write(batch);
             next_batch += 5ms;
           }
           if (auto got = hostile.guest.read(1ms)) check(*got);
         }
         while (answered < sent) {
           if (auto got = hostile.guest.read(3000ms)) {
             check(*got);
           } else {
             hostile.findings.report("starts left unanswered: " + std::to_string(sent - answered));
             break;
           }
         }
         hostile.next_request = sent;
         const double seconds = std::chrono::duration<double>(Clock::now() - began).count();
         // Within the rate: a second's worth at once, then 20 a second (+1: the token
         // accruing while the last start was in flight).
         if (admitted > 20 + 20 * seconds + 1) {
           hostile.findings.report(std::to_string(admitted) + " starts admitted in " +
                                   std::to_string(seconds) + " s");
         }
         if (running) hostile.stop(*running);
         hostile.summary = std::to_string(sent - first) + " starts in " +
                           std::to_string(static_cast<int>(seconds * 1000)) + " ms, " +
                           std::to_string(admitted) + " within the rate";
       },
       [](const HostView& host, const Hostile& hostile) {
         CHECK(hostile.rate_limited > 0);
         CHECK(host.errors_since(ErrorCode::rate_limited) == hostile.rate_limited);
         CHECK(hostile.started == 1);  // the first; the others within the rate were busy
         CHECK(host.config.stats->requests_started - host.stats_before.requests_started ==
               hostile.started);
         CHECK_FALSE(host.connection.counting());
         CHECK(host.config.host_counters->in_use() == host.counters_idle);
       }});
  all.push_back({"1,000 events in one start",
                 [](Hostile& hostile, Clock::time_point until) {
                   Start thousand = hostile.start_of(std::vector<std::string>(1000, "task-clock"));
                   Start sixty_five = hostile.start_of(std::vector<std::string>(65, "dummy"));
                   pipeline(hostile,
                            {{encode_message(thousand), ErrorCode::invalid_message,
                              "start.events: expected 1 to 64 elements, got 1000", hostile.nonce,
                              thousand.request_id},
                             {encode_message(sixty_five), ErrorCode::invalid_message,
                              "start.events: expected 1 to 64 elements, got 65", hostile.nonce,
                              sixty_five.request_id}},
                            until);
                 },
                 [](const HostView& host, const Hostile& hostile) {
                   CHECK(host.errors_since(ErrorCode::invalid_message) == hostile.invalid_messages);
                   CHECK(host.config.stats->requests_started == host.stats_before.requests_started);
                 }});

  all.push_back(
      {"duplicate and unknown events",
       [](Hostile& hostile, Clock::time_point until) {
         const std::string valid = "; valid events: " + event_names_list();
         do {
           const auto round_began = Clock::now();
           // Names only count: the catalogue's, exactly (§9: no case folding); a modifier
           // other than :G or :H is refused with its reason (protocol/events.hpp).
           for (const std::string name :
                {"no-such-event", "Task-Clock", "cycles:u", "Task-Clock:G", "task-clock:G"}) {
             const Start s = hostile.start_of({"task-clock", name});
             hostile.guest.send(s);
             const std::string refused = parse_event_name(name).problem;
             hostile.expect_error(ErrorCode::unknown_event,
                                  refused.empty() ? "unknown event '" + name + "'" + valid : refused,
                                  hostile.nonce, s.request_id);
           }
           // Duplicates, by name and by alias: hostd counts each entry as its own
           // column (PROTOCOL.md §4.2: "An event named twice yields its columns twice").
           const Start twice =
               hostile.start_of({"task-clock", "task-clock", "cs", "context-switches"});
           hostile.guest.send(twice);
           const auto got = hostile.answer();
           const auto* started = got ? std::get_if<Started>(&*got) : nullptr;
           std::vector<std::string> names;
           if (started) {
             for (const auto& column : started->columns) {
               if (column.status == ColumnStatus::counted && column.scope == Scope::all) {
                 names.push_back(column.event);
               }
             }
           }
           if (!started || started->columns.size() != 4 || names != twice.events) {
             hostile.findings.report("duplicates answered with " + describe(got));
             continue;
           }
           ++hostile.started;
           const auto report = hostile.stop(twice.request_id);
           if (report && (report->columns != started->columns || report->totals.size() != 4 ||
                          !report->totals[0] || !report->totals[1])) {
             hostile.findings.report("the report of the duplicates has other columns");
           }
           // Four starts every 250 ms: within the channel's 20 a second (a guest going
           // faster is the attack above), so every answer is the one for the start.
           const auto pause = std::chrono::ceil<milliseconds>(round_began + 250ms - Clock::now());
           if (auto got = hostile.guest.read(std::max(pause, 0ms))) {
             hostile.findings.report("unasked for: " + describe(got));
           }
         } while (Clock::now() < until);
       },
       [](const HostView& host, const Hostile& hostile) {
         CHECK(host.config.stats->requests_started - host.stats_before.requests_started ==
               hostile.started);
         CHECK(host.config.host_counters->in_use() == host.counters_idle);
       }});

  all.push_back(
      {"interval 0, negative, huge",
       [](Hostile& hostile, Clock::time_point until) {
         std::vector<Expected> batch;
         for (const std::string value : {"0", "-1", "3600001", "18446744073709551615"}) {
           const auto id = hostile.next_request++;
           batch.push_back(
               {encode_frame(raw_start(hostile.nonce, id, ",\"interval_ms\":" + value)),
                ErrorCode::invalid_message,
                "start.interval_ms: expected an integer from 1 to 3600000, got number " + value,
                hostile.nonce, id});
         }
         pipeline(hostile, batch, until);
       },
       [](const HostView& host, const Hostile& hostile) {
         CHECK(host.errors_since(ErrorCode::invalid_message) == hostile.invalid_messages);
         CHECK(host.config.stats->requests_started == host.stats_before.requests_started);
       }});

  all.push_back(
      {"vCPU out of range",
       [](Hostile& hostile, Clock::time_point until) {
         // The domain's own count (2) is the host's check, after the parse: charged to
         // the start rate, so two a strike.
         for (const std::string list : {"[0,2]", "[4095]"}) {
           const auto id = hostile.next_request++;
           hostile.guest.write(encode_frame(raw_start(hostile.nonce, id, ",\"vcpus\":" + list)));
           const std::string vcpu = list == "[0,2]" ? "2" : "4095";
           hostile.expect_error(
               ErrorCode::invalid_vcpu,
               "vCPU " + vcpu + " does not exist: domain 'hostile' has 2 vCPUs (0 to 1)",
               hostile.nonce, id);
         }
         // The wire's ceiling (indices 0-4095, lists of at most 4096) is the codec's.
         std::string all_vcpus = "[";
         for (int i = 0; i <= 4096; ++i) all_vcpus += (i ? "," : "") + std::to_string(i);
         all_vcpus += "]";
         std::vector<Expected> batch;
         for (const auto& [list, message] : std::vector<std::pair<std::string, std::string>>{
                  {"[0,4096]",
                   "start.vcpus[1]: expected an integer from 0 to 4095, got number 4096"},
                  {"[4294967296]",
                   "start.vcpus[0]: expected an integer from 0 to 4095, got number 4294967296"},
                  {all_vcpus, "start.vcpus: expected 1 to 4096 elements, got 4097"}}) {
           const auto id = hostile.next_request++;
           batch.push_back({encode_frame(raw_start(hostile.nonce, id, ",\"vcpus\":" + list)),
                            ErrorCode::invalid_message, message, hostile.nonce, id});
         }
         pipeline(hostile, batch, until);
       },
       [](const HostView& host, const Hostile& hostile) {
         CHECK(host.errors_since(ErrorCode::invalid_message) == hostile.invalid_messages);
         CHECK(host.errors_since(ErrorCode::invalid_vcpu) == 2);
         CHECK(host.config.stats->requests_started == host.stats_before.requests_started);
       }});

  all.push_back({"non-UTF-8 strings",
                 [](Hostile& hostile, Clock::time_point until) {
                   // Invalid UTF-8 anywhere makes the payload invalid JSON (§3.1), so nothing of
                   // it is read, not even its nonce: the error goes to "" (§3.3).
                   std::vector<Expected> batch;
                   for (const std::string& bad :
                        {std::string("task\xC3(clock"),    // a lead byte without continuation
                         std::string("\xC0\xAF"),          // overlong '/'
                         std::string("\x80"),              // a lone continuation byte
                         std::string("\xED\xA0\x80"),      // a UTF-16 surrogate
                         std::string("\xF4\x90\x80\x80"),  // beyond U+10FFFF
                         std::string("\xE2\x82"),          // cut short
                         std::string("\\ud800")}) {        // an unpaired surrogate escape
                     const auto id = hostile.next_request++;
                     const std::string payload = "{\"type\":\"start\",\"nonce\":\"" +
                                                 hostile.nonce +
                                                 "\",\"request_id\":" + std::to_string(id) +
                                                 ",\"events\":[\"" + bad + "\"]}";
                     batch.push_back({encode_frame(payload), ErrorCode::invalid_json,
                                      "payload is not valid JSON: syntax error", "", std::nullopt});
                   }
                   batch.push_back({encode_frame("{\"ty\xC3(pe\":\"keepalive\",\"nonce\":\"" +
                                                 hostile.nonce + "\"}"),
                                    ErrorCode::invalid_json,
                                    "payload is not valid JSON: syntax error", "", std::nullopt});
                   pipeline(hostile, batch, until);
                 },
                 [](const HostView& host, const Hostile& hostile) {
                   CHECK(host.errors_since(ErrorCode::invalid_json) == hostile.invalid_json);
                 }});

  all.push_back({"200,000-deep JSON",
                 [](Hostile& hostile, Clock::time_point until) {
                   constexpr std::size_t kDepth = 200'000;
                   const std::string head =
                       "{\"type\":\"keepalive\",\"nonce\":\"" + hostile.nonce + "\",\"x\":";
                   std::string objects = head;
                   for (std::size_t i = 0; i < kDepth; ++i) objects += "{\"\":";
                   objects += "0" + std::string(kDepth + 1, '}');  // 1 MB: within the frame limit
                   const std::string arrays =
                       head + std::string(kDepth, '[') + std::string(kDepth, ']') + "}";
                   pipeline(hostile,
                            {{encode_frame(arrays), ErrorCode::invalid_json,
                              "payload is not valid JSON: too deep", "", std::nullopt},
                             {encode_frame(objects), ErrorCode::invalid_json,
                              "payload is not valid JSON: too deep", "", std::nullopt}},
                            until);
                 },
                 [](const HostView& host, const Hostile& hostile) {
                   CHECK(host.errors_since(ErrorCode::invalid_json) == hostile.invalid_json);
                 }});

  all.push_back({"a guest that never reads while it has a request sampling",
                 [](Hostile& hostile, Clock::time_point until) {
                   const Start s = hostile.start_of({"task-clock"}, 10);
                   hostile.guest.send(s);
                   const auto got = hostile.answer();
                   if (!got || !std::holds_alternative<Started>(*got)) {
                     hostile.findings.report("start answered with " + describe(got));
                     return;
                   }
                   ++hostile.started;
                   // Reads nothing: that is the attack, not a wait for anything.
                   std::this_thread::sleep_until(until);
                   std::vector<Sample> samples;
                   const auto report = hostile.stop(s.request_id, &samples);
                   if (!report) return;
                   hostile.samples_dropped += report->samples_dropped;
                   // Dropped and counted; every sample that was queued arrives, in order.
                   bool ordered = true;
                   for (std::size_t i = 1; i < samples.size(); ++i) {
                     ordered = ordered && samples[i].seq > samples[i - 1].seq;
                   }
                   if (report->samples_dropped == 0 || samples.size() != report->samples_sent ||
                       !ordered || samples.empty() ||
                       samples.back().seq > report->samples_sent + report->samples_dropped) {
                     hostile.findings.report("report: " + std::to_string(report->samples_sent) +
                                             " sent, " + std::to_string(report->samples_dropped) +
                                             " dropped; " + std::to_string(samples.size()) +
                                             " received");
                   }
                   hostile.summary = std::to_string(report->samples_sent) + " samples sent, " +
                                     std::to_string(report->samples_dropped) + " dropped";
                 },
                 [](const HostView& host, const Hostile& hostile) {
                   CHECK(host.config.stats->samples_dropped - host.stats_before.samples_dropped ==
                         hostile.samples_dropped);
                   CHECK(host.config.host_counters->in_use() == host.counters_idle);
                   CHECK(process_fds() == host.fds_idle);
                 },
                 4096});

  all.push_back(
      {"hello storms",
       [](Hostile& hostile, Clock::time_point until) {
         // A request counting when the storm begins: the first hello must close it.
         const Start s = hostile.start_of({"task-clock", "cs"});
         hostile.guest.send(s);
         const auto got = hostile.answer();
         if (!got || !std::holds_alternative<Started>(*got)) {
           hostile.findings.report("start answered with " + describe(got));
         }
         bool counting = true;
         std::uint64_t storm = 0;
         // 600 hellos of 115 bytes in each write: a 64 KiB read holds 570 of them, whose
         // welcomes are some 6 ms of work, which hostd must not do in one go while other
         // channels' timers wait (the victim's p99 says). Each hello replaces the previous
         // session (§6.4): session-replaced to the old nonce (with the request it ended), then
         // the new session's welcome. A hello also drops the replies still queued for earlier
         // sessions (§6.2, last paragraph), so a guest that reads slower than hostd writes gets
         // some of them only, in order; the last hello's welcome always comes.
         while (Clock::now() < until || storm < 2400) {
           std::vector<Message> expected;
           std::string batch;
           std::string previous = hostile.nonce;
           for (int i = 0; i < 600; ++i) {
             const std::string fresh = hostile.fresh_nonce();
             expected.push_back(Error{
                 previous, counting && i == 0 ? std::optional(s.request_id) : std::nullopt,
                 ErrorCode::session_replaced,
                 "a new hello arrived on this channel: this session has ended", std::nullopt});
             expected.push_back(Hello{fresh, 1, 1, "", ""});  // stands for its welcome
             batch += encode_message(Hello{fresh, 1, 1, "", ""});
             previous = fresh;
           }
           counting = false;
           const auto written = Clock::now();
           hostile.guest.write(batch);
           std::size_t next = 0;  // the first of `expected` that may still come
           while (next < expected.size()) {
             const auto got = hostile.answer();
             if (!got) break;
             const auto matches = [&](const Message& want) {
               if (const auto* error = std::get_if<Error>(&want)) {
                 const auto* is = std::get_if<Error>(&*got);
                 return is && is->code == error->code && is->nonce == error->nonce &&
                        is->request_id == error->request_id && is->message == error->message;
               }
               const auto* welcome = std::get_if<Welcome>(&*got);
               return welcome && welcome->nonce == nonce_of(want) &&
                      welcome->domain_name == "hostile";
             };
             const auto found = std::find_if(expected.begin() + static_cast<std::ptrdiff_t>(next),
                                             expected.end(), matches);
             if (found == expected.end()) {
               hostile.findings.report("in a hello storm: " + describe(got));
               continue;
             }
             const auto at = static_cast<std::size_t>(found - expected.begin());
             hostile.replies_dropped += at - next;
             next = at + 1;
           }
           hostile.nonce = previous;
           hostile.hellos += 600;
           storm += 600;
           const auto left = std::chrono::ceil<milliseconds>(written + kWritePeriod - Clock::now());
           if (auto got = hostile.guest.read(std::max(left, 0ms))) {
             hostile.findings.report("after a hello storm: " + describe(got));
           }
         }
         hostile.summary = std::to_string(hostile.hellos) + " hellos, " +
                           std::to_string(hostile.replies_dropped) +
                           " replies to replaced sessions dropped "
                           "(the guest read too slowly)";
       },
       [](const HostView& host, const Hostile&) {
         CHECK(process_fds() == host.fds_idle);
         CHECK(host.config.host_counters->in_use() == host.counters_idle);
         CHECK(host.domain.active_sessions == 1);
         CHECK(host.config.stats->sessions_active == host.stats_before.sessions_active);
         CHECK(host.connection.has_session());
         CHECK_FALSE(host.connection.counting());
       }});
  return all;
}

}  // namespace

// ---- 1. the battery -------------------------------------------------------------------------

TEST_CASE(
    "hostile guests: each attack on one domain's channel gets its precise answer, the "
    "offender's next hello is welcomed at once, and another domain's sampling is not "
    "delayed") {
  Harness h;
  // The vCPU threads sleep: on two cores a spinning one, the attacker and hostd's thread would
  // share the CPU, and the test would measure the scheduler rather than hostd.
  h.vcpus.set_busy(false);
  h.config.lease_ms = 30'000;
  auto victim_domain = h.domain("victim");
  auto hostile_domain = h.domain("hostile");
  auto [victim_channel, victim_guest] = h.connect(victim_domain);
  Victim victim(*victim_guest, *victim_channel);
  victim_guest->send(hello(kOtherNonce));
  victim_guest->receive_until<Welcome>();
  Start sampling = start(1, {"task-clock"}, 20, false);
  sampling.nonce = kOtherNonce;
  victim_guest->send(sampling);
  victim_guest->receive_until<Started>();
  victim.take_samples(200ms, nullptr);  // settled

  // Quiet and attacked phases alternate (as in export_test.cpp), so that both see the same
  // background load, and each round compares its attacked phase with its own quiet one. A
  // delay hostd causes shows in every attacked phase; a stray one of the machine's (the
  // hypervisor's steal comes in bursts of 10 ms and more here) in one phase now and then, quiet
  // or attacked. So the verdict is by rounds: most of them within the bound, at least
  // kMinRounds, and more (up to kMaxRounds) while it is undecided.
  constexpr int kMinRounds = 3, kMaxRounds = 8;
  constexpr auto kPhase = 400ms;
  const BusyBackground busy;  // the hypervisor's steal alike in both phases (sample_intervals.hpp)
  MESSAGE("CPUs kept busy at SCHED_IDLE beside the test: " << busy.idle_priority_threads());
  Intervals all_quiet;
  for (const auto& attack : attacks()) {
    CAPTURE(attack.name);
    const auto attack_began = Clock::now();
    std::optional<LogCapture> log_lines(std::in_place);
    const std::size_t fds_before = process_fds();
    const std::uint64_t counters_before = h.config.host_counters->in_use();
    auto [connection, guest_end] = h.connect_raw(hostile_domain, attack.buffer_bytes);
    auto hostile = std::make_unique<Hostile>(std::move(guest_end));
    while_hostile_acts(victim, nullptr, [&] { hostile->guarded([&] { hostile->say_hello(); }); });
    const std::size_t fds_idle = process_fds();

    Intervals quiet, attacked;
    int rounds = 0, rounds_within = 0;
    while (rounds < kMaxRounds) {
      ++rounds;
      Intervals quiet_round, attacked_round;
      victim_guest->send(Keepalive{kOtherNonce});  // the victim's lease
      victim.take_samples(kPhase, &quiet_round);
      const HostView view{
          *connection,     *hostile_domain, h.config,       connection->decoder_stats(),
          *h.config.stats, fds_idle,        counters_before};
      // The strike's own figures, against the view's baseline taken just before it.
      hostile->rate_limited = hostile->invalid_messages = hostile->invalid_json = 0;
      hostile->started = hostile->samples_dropped = hostile->garbage_bytes = 0;
      hostile->oversize_frames = hostile->frames_sent = 0;
      const auto until = Clock::now() + kPhase;
      while_hostile_acts(
          victim, &attacked_round,
          [&] { hostile->guarded([&] { attack.strike(*hostile, until); }); }, until);
      attack.check_host(view, *hostile);
      if (p99(attacked_round.own) <= p99(quiet_round.own) + kAttackDelayBoundMs) ++rounds_within;
      quiet.add(quiet_round);
      attacked.add(attacked_round);
      const int rounds_beyond = rounds - rounds_within;
      if (rounds >= kMinRounds && rounds_within > rounds_beyond) break;
      if (rounds_beyond >= kMaxRounds / 2) break;  // most can no longer be within
    }
    milliseconds welcome_after = 1h;
    while_hostile_acts(victim, nullptr,
                       [&] { hostile->guarded([&] { welcome_after = hostile->say_hello(); }); });
    all_quiet.add(quiet);

    // The bound is on the intervals less hostd's thread's CPU waits (sample_intervals.hpp);
    // both are shown.
    const double quiet_p99 = p99(quiet.own), attacked_p99 = p99(attacked.own);
    MESSAGE(attack.name << ": victim's sample interval p99 " << quiet_p99 << " ms quiet, "
                        << attacked_p99 << " ms attacked, less hostd's CPU waits ("
                        << p99(quiet.raw) << " and " << p99(attacked.raw) << " ms as timed; "
                        << rounds_within << " of " << rounds
                        << " rounds within the bound, " << attacked.own.size()
                        << " intervals attacked); next hello welcomed after "
                        << welcome_after.count() << " ms"
                        << (hostile->summary.empty() ? "" : "; " + hostile->summary));
    CHECK_MESSAGE(hostile->findings.wrong == 0, hostile->findings.text());
    CHECK(welcome_after < 1s);
    CHECK_MESSAGE(rounds_within > rounds - rounds_within,
                  "the attacked phase's p99 was more than " << kAttackDelayBoundMs
                      << " ms above its quiet phase's in " << rounds - rounds_within << " of "
                      << rounds << " rounds");
    CHECK_FALSE(h.io.stopped());
    CHECK(victim_channel->counting());
    CHECK(connection->has_session());
    CHECK(hostile_domain->active_sessions == 1);

    // The offender leaves: its channel's end closes, hostd ends the channel, nothing stays.
    const std::weak_ptr<ChannelConnection> gone = connection;
    connection.reset();
    hostile.reset();
    const auto deadline = Clock::now() + 3s;
    while (!gone.expired() && Clock::now() < deadline) h.io.run_one_for(5ms);
    CHECK(gone.expired());
    CHECK(hostile_domain->active_sessions == 0);
    CHECK(process_fds() == fds_before);
    CHECK(h.config.host_counters->in_use() == counters_before);

    // What the attack made hostd log: the lines a guest can cause at will, one per frame, are
    // throttled to one a second of each kind (bad messages, a guest's own errors); the rest are
    // once a session (a lease, replies dropped) or bounded by the start rate.
    const auto logged = log_lines->lines();
    log_lines.reset();
    const auto seconds =
        std::chrono::ceil<std::chrono::seconds>(Clock::now() - attack_began).count();
    MESSAGE(attack.name << ": hostd logged " << logged.all << " lines, " << logged.warnings
                        << " of them warnings, in " << seconds << " s"
                        << (logged.first_warning.empty() ? ""
                                                         : "; the first: " + logged.first_warning));
    CHECK(logged.warnings <= static_cast<std::size_t>(4 + 2 * seconds));
    // All lines: two a start within the rate (20 a second: counting, ended), a few a session.
    CHECK(logged.all <= static_cast<std::size_t>(20 + 50 * seconds));
  }
  CHECK(victim.missing() == 0);
  MESSAGE("victim's sample interval p99 over all quiet phases: " << std::string(kAttackDelayBuild)
          << " allowed above it; "
          << p99(all_quiet.own) << " ms less hostd's CPU waits, " << p99(all_quiet.raw)
          << " ms as timed (" << all_quiet.own.size() << " intervals)");
}

// ---- 2. sessions in a loop ----------------------------------------------------------------------

namespace {

// This process's resident memory, from /proc/self/statm.
std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

// The next frame on `guest`, running the io_context a handler at a time meanwhile (TestGuest's
// receive runs it 2 ms at a time: 10,000 sessions would take minutes).
template <class T>
T promptly(boost::asio::io_context& io, TestGuest& guest) {
  const auto deadline = Clock::now() + 5s;
  while (Clock::now() < deadline) {
    if (auto message = guest.try_receive(0ms)) {
      if (auto* wanted = std::get_if<T>(&*message)) return *wanted;
      FAIL("expected '" << T::kType << "', got " << describe(message));
    }
    io.run_one_for(1ms);
  }
  FAIL("no '" << T::kType << "' within 5 s");
  return {};
}

// Runs the io_context until `done()` holds; false if it does not within `patience`.
template <class Condition>
bool serve_until(boost::asio::io_context& io, Condition done, milliseconds patience = 5000ms) {
  const auto deadline = Clock::now() + patience;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    io.run_one_for(1ms);
  }
  return true;
}

// One guest program's whole session: hello, start, stop, report, and its channel closed.
void one_session(Harness& h, const std::shared_ptr<DomainContext>& domain, std::uint64_t n) {
  auto [connection, guest_end] = h.connect_raw(domain);
  const std::weak_ptr<ChannelConnection> channel = connection;
  {
    TestGuest guest(h.io, std::move(guest_end));
    char nonce[17];
    std::snprintf(nonce, sizeof nonce, "%016llx", static_cast<unsigned long long>(n));
    guest.send(hello(nonce));
    promptly<Welcome>(h.io, guest);
    Start request = start(1, {"task-clock", "context-switches"});
    request.nonce = nonce;
    guest.send(request);
    promptly<Started>(h.io, guest);
    guest.send(Stop{nonce, 1});
    REQUIRE(promptly<Report>(h.io, guest).reason == EndReason::stopped);
    connection.reset();  // run() holds its own reference now: the channel lives while served
  }  // the program exits: its end of the channel closes, and hostd ends the channel
  REQUIRE(serve_until(h.io, [&] { return channel.expired(); }));
}

// hostd's log at `level` (and above) while this lives.
struct LogLevelFor {
  explicit LogLevelFor(log::Level level) : before(log::level()) { log::set_level(level); }
  ~LogLevelFor() { log::set_level(before); }
  log::Level before;
};

}  // namespace

TEST_CASE(
    "hostile guests: 10,000 sessions one after another leave the fds and the host counter "
    "budget exactly where they were, and RSS within 1 MiB") {
  Harness h;
  h.vcpus.set_busy(false);
  h.config.lease_ms = 60'000;
  auto domain = h.domain("looping");
  // Between sessions nothing is left to serve: without this the io_context would stop.
  const auto keep_serving = boost::asio::make_work_guard(h.io);
  // Each session on a channel of its own, as a guest running perfkvm in a loop over vsock gets
  // (one connection a program). The domain's start budget is over all of its channels, so it
  // is set high enough for the loop's pace (this case is about what sessions leave behind, not
  // about the rate); every session counts (two counters on each of the two vCPU threads) and is
  // stopped, as perfkvm stat does.
  h.config.max_starts_per_second = 100'000;
  h.config.max_counter_opens_per_second = 10'000'000;
  // Their 50,000 info lines would bury the test's output; nothing here reads them.
  const LogLevelFor quiet(log::Level::warning);
  for (std::uint64_t n = 1; n <= 300; ++n) one_session(h, domain, n);  // warm-up
  const std::size_t fds = process_fds();
  const std::uint64_t counters = h.config.host_counters->in_use();
  const std::size_t rss = resident_bytes();
  const auto began = Clock::now();
  constexpr std::uint64_t kSessions = 10'000;
  for (std::uint64_t n = 1; n <= kSessions; ++n) one_session(h, domain, 1000 + n);
  const double seconds = std::chrono::duration<double>(Clock::now() - began).count();
  const std::size_t rss_after = resident_bytes();
  // 1 MiB over 10,000 sessions is 104 bytes a session: less than any one allocation a session
  // could leak for good (a ChannelConnection is about 800 bytes, a counter's bookkeeping more,
  // the smallest string on the heap 32), while allocator noise after the warm-up (pages that
  // malloc keeps, a vector of the loop's that grew once more) stays well below it.
  [[maybe_unused]] constexpr std::size_t kMargin = 1024 * 1024;
  MESSAGE(kSessions << " sessions in " << seconds << " s; RSS " << rss / 1024 << " KiB after the "
                    << "warm-up, " << rss_after / 1024 << " KiB after ("
                    << static_cast<long long>(rss_after - rss) / 1024 << " KiB more); fds " << fds
                    << " -> " << process_fds());
  CHECK(process_fds() == fds);
  CHECK(h.config.host_counters->in_use() == counters);
  CHECK(counters == 0);
  CHECK(domain->active_sessions == 0);
  CHECK(h.config.stats->requests_started == 300 + kSessions);
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer keeps freed memory in its quarantine (up to 256 MiB) before reusing it, so
  // RSS grows whatever the code does; its leak check at exit stands in for this bound.
  MESSAGE("RSS bound not checked: this is a sanitizer build (its quarantine holds freed memory)");
#else
  CHECK(rss_after <= rss + kMargin);
#endif
}

// ---- 3. vsock loopback ------------------------------------------------------------------------

namespace {

sockaddr_vm vsock_address(std::uint32_t cid, std::uint32_t port) {
  sockaddr_vm address{};
  address.svm_family = AF_VSOCK;
  address.svm_cid = cid;
  address.svm_port = port;
  return address;
}

// A connection to VMADDR_CID_LOCAL `port`, or an empty fd (errno says why) within 2 s.
UniqueFd connect_vsock_local(std::uint32_t port) {
  UniqueFd fd(::socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return fd;
  const auto address = vsock_address(VMADDR_CID_LOCAL, port);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0)
    return fd;
  if (errno != EINPROGRESS) return {};
  pollfd poller{fd.get(), POLLOUT, 0};
  if (::poll(&poller, 1, 2000) != 1) {
    errno = ETIMEDOUT;
    return {};
  }
  int error = 0;
  socklen_t length = sizeof error;
  ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length);
  if (error != 0) {
    errno = error;
    return {};
  }
  return fd;
}

// Why this process cannot use vsock loopback (a listener bound to VMADDR_CID_LOCAL and a
// connection to it, through the vsock_loopback transport), or "" when it can: asked of the
// kernel directly.
std::string vsock_loopback_unavailable(std::uint32_t port) {
  UniqueFd listener(::socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listener) return std::string("socket(AF_VSOCK): ") + std::strerror(errno);
  const auto address = vsock_address(VMADDR_CID_LOCAL, port);
  if (::bind(listener.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    return std::string("bind to VMADDR_CID_LOCAL: ") + std::strerror(errno) +
           " (no vsock_loopback transport in this kernel or network namespace)";
  }
  if (::listen(listener.get(), 4) != 0) return std::string("listen: ") + std::strerror(errno);
  if (!connect_vsock_local(port)) {
    return std::string("connect to VMADDR_CID_LOCAL: ") + std::strerror(errno);
  }
  return "";
}

}  // namespace

TEST_CASE(
    "hostile guests: connect and disconnect storms against the vsock listener over vsock "
    "loopback: hostd stays up, its fds return to their baseline") {
  const std::uint32_t port = 0x7E570000u + static_cast<std::uint32_t>(::getpid() & 0xFFFF);
  if (const std::string why = vsock_loopback_unavailable(port); !why.empty()) {
    MESSAGE("skipped: vsock loopback is not usable here: " << why);
    return;
  }
  Harness h;
  h.vcpus.set_busy(false);
  // Idle connections without a session are closed after a lease: longer than the crowd's
  // window below, in which only the listener's own refusals may close any.
  h.config.lease_ms = 3000;
  auto domain = h.domain("vsock-guest");
  // The real listener on AF_VSOCK, any CID (as hostd opens it), the kernel's peer CID; only the
  // CID -> domain lookup, libvirt's in hostd, is the test's: loopback peers are CID 1.
  const std::uint32_t hostd_port = port + 1;
  auto listener = std::make_shared<StreamListener>(
      StreamListener::open_vsock(h.io.get_executor(), hostd_port), StreamListener::vsock_peer_cid,
      [&](std::uint32_t cid) { return cid == VMADDR_CID_LOCAL ? domain : nullptr; }, h.config,
      h.events);
  listener->start();
  const std::size_t fds = process_fds();
  const LogLevelFor quiet(log::Level::warning);
  const auto all_gone = [&] {
    return listener->connections().empty() && listener->pending() == 0 && process_fds() == fds;
  };

  // A storm of connections closed at once, every other one after a hello it does not wait for.
  auto storm = std::async(std::launch::async, [hostd_port] {
    ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 19);
    int connected = 0;
    const std::string frame = encode_message(hello("0123456789abcdef"));
    for (int i = 0; i < 2000; ++i) {
      UniqueFd fd = connect_vsock_local(hostd_port);
      if (!fd) continue;
      ++connected;
      if (i % 2) (void)::send(fd.get(), frame.data(), frame.size(), MSG_NOSIGNAL);
    }
    return connected;
  });
  while (storm.wait_for(0s) != std::future_status::ready) h.io.run_one_for(1ms);
  const int connected = storm.get();
  CHECK(serve_until(h.io, all_gone, 10'000ms));
  CHECK(process_fds() == fds);

  // A crowd held open at once: beyond max_sessions + 2 connections of one CID the listener
  // closes new ones at once (PROTOCOL.md §10.2); the rest are idle, closed after a lease.
  constexpr int kCrowd = 20;
  const int kept = static_cast<int>(h.config.max_sessions) + 2;
  auto crowd = std::async(std::launch::async, [hostd_port] {
    std::vector<UniqueFd> fds;
    for (int i = 0; i < kCrowd; ++i) fds.push_back(connect_vsock_local(hostd_port));
    // Which of them the host closes within half a second (all polled together).
    std::vector<bool> closed(fds.size(), false);
    const auto window = Clock::now() + 500ms;
    for (auto left = 500ms; left.count() > 0;
         left = std::chrono::ceil<milliseconds>(window - Clock::now())) {
      std::vector<pollfd> open;
      for (const auto& fd : fds) open.push_back({fd ? fd.get() : -1, POLLIN, 0});
      for (std::size_t i = 0; i < fds.size(); ++i) {
        if (closed[i]) open[i].fd = -1;  // poll() skips negative fds
      }
      if (::poll(open.data(), open.size(), static_cast<int>(left.count())) <= 0) continue;
      for (std::size_t i = 0; i < fds.size(); ++i) {
        char byte;
        if (open[i].fd >= 0 && open[i].revents != 0 && ::recv(fds[i].get(), &byte, 1, 0) == 0) {
          closed[i] = true;
        }
      }
    }
    return static_cast<int>(std::count(closed.begin(), closed.end(), true));
  });
  while (crowd.wait_for(0s) != std::future_status::ready) h.io.run_one_for(1ms);
  const int closed_at_once = crowd.get();
  CHECK(serve_until(h.io, all_gone, 10'000ms));

  // hostd is up: the next guest is welcomed.
  TestGuest guest(h.io, connect_vsock_local(hostd_port));
  guest.send(hello(kOtherNonce));
  CHECK(guest.receive_until<Welcome>().domain_name == "vsock-guest");
  MESSAGE("vsock loopback: " << connected << " of 2000 storm connections made; " << closed_at_once
                             << " of " << kCrowd << " held at once were closed at once");
  CHECK(connected > 1000);
  CHECK(closed_at_once == kCrowd - kept);
  listener->stop();
  CHECK(serve_until(h.io, [&] { return listener->connections().empty(); }));
}

}  // namespace perfkvm::test
