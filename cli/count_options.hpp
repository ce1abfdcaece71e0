// The options perfkvm and perfkvm-host stat share, spelt alike and checked alike: what to
// count (-e, -d, --vcpu, --cpu, --mode) and how to print it (-i, -A, -x, -j, -B, -o). Each CLI adds
// its own options around them (perfkvm: -p and the command; perfkvm-host stat: DOMAIN and
// --duration).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/messages.hpp"
#include "report/formatter.hpp"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace perfkvm::cli {

struct CountOptions {
  std::vector<std::string> events;                  // -e; default: perf stat's
  std::optional<std::uint32_t> interval_ms;         // -i MS; none: only the final report
  std::optional<std::vector<std::uint32_t>> vcpus;  // --vcpu / --cpu; none: every vCPU
  protocol::StartMode mode = protocol::StartMode::all;
  // format, separator, per_vcpu (-A) and big_num (-B) only; command, target_label and the
  // numeric locale are each CLI's.
  report::FormatOptions format;
  std::optional<std::string> output_path;  // -o FILE; none: the CLI's usual stream
};

// What differs between the two CLIs' help for these options.
struct CountOptionsHelp {
  std::string count_group;       // the help section of -e, --cpu, --vcpu, --mode
  std::string output_group;      // the help section of -i, -A, -x, -j, -B, -o
  std::string event_names_from;  // "perfkvm list": where the user sees the events; or empty
  std::string report_stream;     // "stderr": where the report goes without -o
  bool offer_cpu = false;        // --cpu N, the seed tool's spelling: perfkvm only
};

// Adds the options to `app` (in the order their help lists them) and holds what CLI11 parses
// into them; after app.parse(), finish() applies the rules that need more than one option's
// text. CLI11 keeps pointers to the members: the object stays where it was made.
class CountOptionSet {
 public:
  CountOptionSet(CLI::App& app, const CountOptionsHelp& help);
  CountOptionSet(const CountOptionSet&) = delete;
  CountOptionSet& operator=(const CountOptionSet&) = delete;

  // Throws UsageError with the message for the user.
  CountOptions finish() const;

 private:
  std::vector<std::string> event_args_;  // one per -e
  unsigned detailed_ = 0;                // -d, -dd, -ddd
  std::string vcpu_list_;
  std::uint32_t cpu_ = 0;       // --cpu N: vCPU N-1; 0: all
  std::uint32_t interval_ = 0;  // 0: not given
  bool per_vcpu_ = false;
  std::string mode_;
  std::string separator_;
  CLI::Option* separator_option_ = nullptr;  // tells `-x ""` from no -x
  bool json_ = false;
  bool big_num_ = false;     // -B given (perf's default anyway: it matters against -x)
  bool no_big_num_ = false;  // --no-big-num
  std::string output_;
};

// --mode as users of both CLIs write it: "guest" (guest code only), "host" (the host side
// only), "both" (two columns: guest and host; "all" is the same). Empty, for no --mode: one
// column counting guest and host time together (StartMode::all). Throws
// std::invalid_argument, worded as CLI11 words a bad --mode.
protocol::StartMode parse_mode(std::string_view text);

}  // namespace perfkvm::cli
