// perfkvm's command line (CLI11): what to run, what to count, how to print it, and how to
// reach perfkvm-hostd. Parsing only: nothing here touches the system.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "cli/count_options.hpp"
#include "cli/usage.hpp"
#include "guest-agent/ctl_command.hpp"
#include "protocol/defaults.hpp"

namespace perfkvm::guest {

// The guest end of the domain's perfkvm channel (udev names it after the channel's target).
inline constexpr std::string_view kDefaultPortPath = protocol::kGuestPortPath;
inline constexpr std::uint32_t kHostCid = protocol::kHostCid;
inline constexpr std::uint32_t kDefaultVsockPort = protocol::kVsockPort;

struct VsockAddress {
  std::uint32_t cid = kHostCid;
  std::uint32_t port = kDefaultVsockPort;
  bool operator==(const VsockAddress&) const = default;
};

// How to reach perfkvm-hostd; shared by `perfkvm CMD` and `perfkvm list`.
struct ConnectOptions {
  std::optional<std::string> device;  // --device PATH: a virtio-serial port or a unix socket
  std::optional<VsockAddress> vsock;  // --vsock [CID:]PORT
  double timeout_s = 5;               // --timeout: the longest wait for any host answer
  bool verbose = false;

  std::chrono::milliseconds timeout() const;
  std::string timeout_text() const;  // "5 s", "0.5 s": as the user wrote it, for messages
};

// What to count and how to print it (-e, -i, --vcpu, --mode, -A, -x, -j, -o), as
// perfkvm-host stat has them too, plus what to run. format.command is the command as the
// report header shows it; format.per_vcpu is -A and also asks the host for per-vCPU rows.
struct RunOptions : cli::CountOptions {
  ConnectOptions connect;
  std::vector<std::string> argv;  // exec'd as is; -p CMD gives {"/bin/sh", "-c", CMD}
  bool pin = false;               // --pin: the command runs only on the counted vCPUs
  bool isolate = false;           // --isolate: --pin, and the guest's other tasks moved off them
  // -D MS: counting starts MS ms after the command; kDelayDisabled (-D -1): only at
  // `perfkvm ctl enable`. None: from the command's start.
  std::optional<std::int64_t> delay_ms;
  static constexpr std::int64_t kDelayDisabled = -1;
  // --control fifo:CTL[,ACK]: perf's control fifos, for scripts written for perf stat.
  struct ControlFifos {
    std::string control;
    std::optional<std::string> ack;
    bool operator==(const ControlFifos&) const = default;
  };
  std::optional<ControlFifos> control_fifos;
  // -r N: the command runs N times, one after the other, each counted as its own request; the
  // report is the mean with perf's noise, the exit status the last run's.
  std::uint32_t repeat = 1;
  static constexpr std::uint32_t kMaxRepeat = 100000;
};

// "fifo:CTL" or "fifo:CTL,ACK". Throws UsageError.
RunOptions::ControlFifos parse_control_option(std::string_view text);

struct ListOptions {
  ConnectOptions connect;
};

// `perfkvm ping [-c N] [-e EVENTS] [-j]`.
struct PingOptions {
  ConnectOptions connect;
  std::size_t count = 10;  // round trips of each kind
  std::vector<std::string> events = {"task-clock", "context-switches", "cpu-migrations",
                                     "page-faults"};
  bool json = false;
};

using cli::ShowText;  // --help or --version

using Invocation = std::variant<RunOptions, ListOptions, PingOptions, CtlOptions, ShowText>;

// A bad command line; main prints the message and exits with kUsageExitStatus.
using cli::UsageError;
using cli::kUsageExitStatus;

// `args` excludes the program name. Throws UsageError with the message for the user.
Invocation parse_arguments(const std::vector<std::string>& args);

// "9999" or "2:9999". Throws UsageError.
VsockAddress parse_vsock_address(std::string_view text);

}  // namespace perfkvm::guest
