// A scripted stand-in for perfkvm-hostd, built on the protocol library: it listens on a unix
// socket (perfkvm --device accepts one in place of the virtio-serial port), serves one
// connection on its own thread, answers as the script says, and records what it received.
//
// Its readings are fixed numbers, so that tests can derive the expected report by hand:
//   report: duration 1.5 s; task-clock 750,000,000 ns (0.500 CPUs utilized),
//           context-switches 1,234, page-faults 321, any other software event 7;
//           per vCPU (with per_vcpu) vCPU i gets (i+1)/(1+2+...+n) of each total.
//   sample seq k: elapsed k * interval; task-clock elapsed/2; context-switches 100 k;
//           any other software event 10 k.
//   read k (protocol 2; the k-th read of the request, k <= 5): elapsed k * 250 ms; task-clock
//           elapsed/2; context-switches 200 k; page-faults 50 k; any other software event k.
//           A welcome_protocol of 1 answers reads as a version-1 host: unknown-type.
//   vary_reports: the k-th report of the connection (-r N's k-th run) reads k times the
//           report's numbers above, duration included.
//   Hardware events are <not supported> ("no hardware PMU on this host (ENOENT)").
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "protocol/messages.hpp"
#include "util/unique_fd.hpp"

namespace perfkvm::test {

struct FakeHostScript {
  enum class AfterStarted {
    nothing,
    close,           // the host disappears: connection closed
    reset,           // reads no more and closes 200 ms later, unread bytes and all (ECONNRESET)
    lease_expired,   // error lease-expired: the session is gone
    forgot_session,  // error no-session, once, as a restarted hostd answers a keepalive
    domain_stopped,  // report reason domain-stopped at once
    failure,         // error internal, then report reason error
    policy_changed,  // error not-permitted, then report reason error
  };

  bool silent = false;   // reads everything, answers nothing
  bool garbage = false;  // noise and other sessions' frames before every reply
  std::optional<protocol::Error> hello_error;  // refuse the hello (nonce filled in)
  std::optional<protocol::Error> start_error;  // refuse the start (nonce, request_id filled in)
  int rate_limited_starts = 0;  // refuse the first N starts with rate-limited, retry in 50 ms
  std::uint32_t welcome_protocol = protocol::kProtocolVersion;
  std::uint32_t lease_ms = 10'000;
  std::uint32_t vcpus = 2;
  AfterStarted after_started = AfterStarted::nothing;
  int signal_after_started = 0;          // sent to the client 150 ms after started
  std::set<std::uint64_t> drop_samples;  // sample seqs numbered but not sent
  // Samples perfkvm must drop (saying so with -v), printing the next one as if they never came:
  std::set<std::uint64_t> short_samples;    // sent with the last total cell missing
  std::set<std::uint64_t> foreign_samples;  // sent with the request_id of another request
  std::set<std::uint64_t> late_samples;     // held back, sent after the next one: out of order
  std::set<std::uint64_t> repeat_samples;   // sent twice in a row
  bool ignore_stop = false;
  bool mute_after_started = false;  // answers nothing after `started` (keepalives included)
  std::uint64_t close_after_sample = 0;  // non-zero: the host disappears after sending this seq
  // non-zero: the host ends the session for silence (lease-expired) after sending this seq,
  // once (the guest's next session is served to its end)
  std::uint64_t lease_expired_after_sample = 0;
  std::uint64_t close_after_read = 0;    // non-zero: ... after answering the k-th read
  std::uint64_t close_after_reports = 0;  // non-zero: ... after sending the k-th report
  bool vary_reports = false;  // the connection's k-th report: k times the duration and counts
};

class FakeHost {
 public:
  explicit FakeHost(FakeHostScript script);
  ~FakeHost();
  FakeHost(const FakeHost&) = delete;
  FakeHost& operator=(const FakeHost&) = delete;

  const std::string& socket_path() const { return socket_path_; }
  // The process to signal (signal_after_started). Until it is set the host does not signal.
  void set_client_pid(pid_t pid) { client_pid_ = pid; }

  // What arrived, by message type, in order. Safe to call while the host runs.
  std::vector<std::string> received() const;
  std::size_t count(const std::string& type) const;
  std::size_t distinct_nonces() const;
  std::optional<protocol::Start> start_message() const;

  // Stops serving and joins the thread (the destructor does it too).
  void stop();

 private:
  struct Connection;

  void serve();
  void handle(Connection& connection, const protocol::Message& message);
  void record(const protocol::Message& message);

  FakeHostScript script_;
  int rate_limited_left_ = 0;  // script_.rate_limited_starts still to refuse (serving thread only)
  std::filesystem::path dir_;
  std::string socket_path_;
  UniqueFd listener_;
  std::atomic<bool> stopping_{false};
  std::atomic<pid_t> client_pid_{0};
  bool lease_expired_sent_ = false;  // lease_expired_after_sample happened
  bool forgot_session_sent_ = false;  // AfterStarted::forgot_session happened

  mutable std::mutex mutex_;
  std::vector<std::string> received_;
  std::set<std::string> nonces_;
  std::optional<protocol::Start> start_;

  std::thread thread_;
};

}  // namespace perfkvm::test
