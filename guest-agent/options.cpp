#include "guest-agent/options.hpp"

#include <CLI/CLI.hpp>
#include <charconv>
#include <sstream>

#include "cli/event_list.hpp"
#include "perfkvm_config.hpp"

namespace perfkvm::guest {

namespace {

constexpr const char* kDescription =
    "perfkvm runs a command in this KVM guest while perfkvm-hostd, on the host,\n"
    "counts perf events on this VM's vCPU threads; then it prints a perf-stat-like\n"
    "report (on stderr, as perf stat does). Counting covers the whole VM, per vCPU:\n"
    "everything the vCPUs run while the command runs is counted, not only the\n"
    "command's own threads.\n"
    "It needs the host admin to have enabled perfkvm for this VM: a virtio-serial\n"
    "channel org.perfkvm.0 (or vsock) and perfkvm-hostd running on the host; see\n"
    "xml/ in perfkvm.\n";

constexpr const char* kUsage =
    "Usage:\n"
    "  perfkvm [OPTIONS] -p \"CMD ARGS\"       run the string with /bin/sh -c\n"
    "  perfkvm [OPTIONS] [--] CMD [ARGS...]  run CMD directly\n"
    "  perfkvm list [--device PATH | --vsock [CID:]PORT]\n"
    "                                       the events the host can count for this VM\n"
    "  perfkvm ping [-c N] [-e EVENTS] [-j]  how fast the host answers (round trips)\n"
    "  perfkvm ctl enable|disable|mark NAME  from inside the command: count or not,\n"
    "                                       start a phase (see -D)\n";

constexpr const char* kFooter =
    "Examples:\n"
    "  perfkvm -p \"make -j2\"       perf stat's default events while make runs\n"
    "  perfkvm -e task-clock,cs -i 500 -- ./bench --quick\n"
    "  perfkvm -A --vcpu 0-1 -x , -o counts.csv -p ./job.sh\n"
    "  perfkvm --vcpu 1 --pin -p ./bench  the command on vCPU 1 only, vCPU 1 counted\n"
    "  perfkvm -D -1 -p './setup; perfkvm ctl enable; ./bench'  count ./bench only\n"
    "  perfkvm -p 'perfkvm ctl mark load; ./load; perfkvm ctl mark query; ./query'\n"
    "                              one report block per phase, and the total\n"
    "\n"
    "Hardware events (cycles, instructions, ...) need a PMU on the host; without\n"
    "one they show <not supported>. Ctrl-C and SIGTERM go to the command, and the\n"
    "counts up to then are still printed.\n"
    "The command finds its perfkvm through PERFKVM_CTL (a socket): perfkvm ctl, and\n"
    "perfkvm_roi.h from C, switch counting on and off there and mark phases; the\n"
    "host reads the counters at each (protocol 2; an older perfkvm-hostd cannot).\n"
    "With -r N the command runs N times; Ctrl-C, SIGTERM or a run without a report\n"
    "ends the repeats, and the mean of the runs so far is printed.\n"
    "Exit status: the command's (128+N when signal N killed it; with -r N the last\n"
    "run's); 127/126 when it could not be run; 1 when perfkvm failed before running\n"
    "it; 129 for a usage error.";

// CLI11's generated usage line cannot show the two ways of giving the command.
class HelpFormatter : public CLI::Formatter {
 public:
  std::string make_usage(const CLI::App* app, std::string name) const override {
    if (app->get_parent() != nullptr) return CLI::Formatter::make_usage(app, std::move(name));
    return kUsage;
  }
};

constexpr const char* kConnectGroup = "Reaching the host";

// Options shared by the main program and `list` (CLI11 needs them on both to accept them
// before and after the subcommand name).
void add_connect_options(CLI::App& app, ConnectOptions& connect, std::string& vsock_text) {
  auto* device =
      app.add_option("--device", connect.device,
                     "the virtio-serial port (default:\n" + std::string(kDefaultPortPath) +
                         " if it exists);\na unix socket works too (tests)");
  device->option_text("PATH")->group(kConnectGroup);
  app.add_option("--vsock", vsock_text,
                 "use AF_VSOCK instead (the default when the port\nis missing: 2:" +
                     std::to_string(kDefaultVsockPort) + ")")
      ->option_text("[CID:]PORT")
      ->group(kConnectGroup)
      ->excludes(device);
  app.add_option("--timeout", connect.timeout_s,
                 "seconds to wait for each answer of perfkvm-hostd\n(default 5)")
      ->option_text("SECONDS")
      ->group(kConnectGroup)
      ->check(CLI::Validator(
          [](const std::string& text) -> std::string {
            double seconds = 0;
            if (CLI::detail::lexical_cast(text, seconds) && seconds >= 0.001 && seconds <= 86400) {
              return {};
            }
            return "expected seconds from 0.001 to 86400, got " + text;
          },
          "SECONDS"));
  app.add_flag("-v,--verbose", connect.verbose, "also print protocol details (dropped frames)")
      ->group(kConnectGroup);
}

void finish_connect_options(ConnectOptions& connect, const std::string& vsock_text) {
  if (!vsock_text.empty()) connect.vsock = parse_vsock_address(vsock_text);
}

std::string join(const std::vector<std::string>& words) {
  std::string joined;
  for (const auto& word : words) {
    if (!joined.empty()) joined += ' ';
    joined += word;
  }
  return joined;
}

}  // namespace

std::chrono::milliseconds ConnectOptions::timeout() const {
  return std::chrono::milliseconds(static_cast<std::int64_t>(timeout_s * 1000.0 + 0.5));
}

std::string ConnectOptions::timeout_text() const {
  std::ostringstream text;
  text << timeout_s << " s";
  return text.str();
}

VsockAddress parse_vsock_address(std::string_view text) {
  const auto parse_number = [&](std::string_view part, std::uint32_t& value) {
    const auto [end, error] = std::from_chars(part.data(), part.data() + part.size(), value);
    return !part.empty() && error == std::errc() && end == part.data() + part.size();
  };
  VsockAddress address;
  const auto colon = text.find(':');
  const bool ok = colon == std::string_view::npos
                      ? parse_number(text, address.port)
                      : parse_number(text.substr(0, colon), address.cid) &&
                            parse_number(text.substr(colon + 1), address.port);
  if (!ok) {
    throw UsageError("--vsock: expected [CID:]PORT, e.g. 2:9999 or 9999, got '" +
                     std::string(text) + "'");
  }
  return address;
}

RunOptions::ControlFifos parse_control_option(std::string_view text) {
  constexpr std::string_view kFifo = "fifo:";
  if (!text.starts_with(kFifo)) {
    throw UsageError("--control: expected fifo:CTL[,ACK] (perf's fd:N form is not supported), "
                     "got '" + std::string(text) + "'");
  }
  const std::string_view paths = text.substr(kFifo.size());
  const auto comma = paths.find(',');
  RunOptions::ControlFifos fifos{std::string(paths.substr(0, comma)), std::nullopt};
  if (comma != std::string_view::npos) fifos.ack = std::string(paths.substr(comma + 1));
  if (fifos.control.empty() || (fifos.ack && fifos.ack->empty())) {
    throw UsageError("--control: expected fifo:CTL[,ACK] with both paths non-empty, got '" +
                     std::string(text) + "'");
  }
  return fifos;
}

Invocation parse_arguments(const std::vector<std::string>& args) {
  CLI::App app{kDescription, "perfkvm"};
  app.footer(kFooter);
  app.formatter(std::make_shared<HelpFormatter>());
  app.get_formatter()->column_width(30);
  app.set_help_flag("-h,--help", "print this help and exit");
  app.set_version_flag("--version",
                       std::string("perfkvm ") + PERFKVM_VERSION + " (protocol " +
                           std::to_string(protocol::kProtocolVersion) + ")",
                       "print the version and exit");

  RunOptions run;
  std::string vsock_text;
  add_connect_options(app, run.connect, vsock_text);

  std::string shell_command;
  std::vector<std::string> command;
  constexpr const char* kCountGroup = "What to run and count";
  app.add_option("-p,--command", shell_command, "run CMD with /bin/sh -c (one string)")
      ->option_text("CMD")
      ->group(kCountGroup);
  const cli::CountOptionSet counting(app, {.count_group = kCountGroup,
                                           .output_group = "Output",
                                           .event_names_from = "perfkvm list",
                                           .report_stream = "stderr",
                                           .offer_cpu = true});
  app.add_flag("--pin", run.pin,
               "run the command only on the counted vCPUs (with\n--vcpu: closer to counting "
               "the command alone)")
      ->group(kCountGroup);
  app.add_flag("--isolate", run.isolate,
               "--pin, and move the guest's other tasks off the\ncounted vCPUs for the run "
               "(needs --vcpu or --cpu;\nroot moves all of them, a user its own)")
      ->group(kCountGroup);
  app.add_option("-D,--delay", run.delay_ms,
                 "start counting MS ms after the command starts;\n-1: only at `perfkvm ctl "
                 "enable` (perf's -D)")
      ->option_text("MS")
      ->group(kCountGroup)
      ->check(CLI::Range(RunOptions::kDelayDisabled, std::int64_t{86'400'000}));
  app.add_option("-r,--repeat", run.repeat,
                 "run the command N times and print the mean of\nthe counts with their "
                 "spread (perf's -r)")
      ->option_text("N")
      ->group(kCountGroup)
      ->check(CLI::Validator(
          [](const std::string& text) -> std::string {
            std::uint32_t runs = 0;
            if (!CLI::detail::lexical_cast(text, runs)) {
              return "expected a number of runs, got " + text;
            }
            if (runs == 0) {
              return "0 (perf's 'repeat until interrupted') is not supported: give the number "
                     "of runs";
            }
            if (runs > RunOptions::kMaxRepeat) {
              return "at most " + std::to_string(RunOptions::kMaxRepeat) + " runs, got " + text;
            }
            return {};
          },
          "N"));
  std::string control_text;
  app.add_option("--control", control_text,
                 "perf's control fifos: enable / disable (and mark\nNAME) lines read from CTL, "
                 "\"ack\" written to ACK")
      ->option_text("fifo:CTL[,ACK]")
      ->group(kCountGroup);
  app.add_option("command", command, "")->allow_extra_args()->group("");
  app.positionals_at_end();

  auto* list = app.add_subcommand("list", "print the events the host offers for this VM");
  list->footer("One line per event, as perf list prints them, with the host's verdict.");
  ListOptions list_options;
  std::string list_vsock_text;
  add_connect_options(*list, run.connect, list_vsock_text);

  auto* ping = app.add_subcommand("ping", "measure how fast perfkvm-hostd answers this VM");
  ping->footer(
      "Sends N keepalives, which hostd echoes (the channel's round trip: the floor), then\n"
      "N start requests for EVENTS, each stopped again at once, and prints the median,\n"
      "p99, min and max of each round trip. A start the host asks to repeat later\n"
      "(its start budget) is repeated and not timed.");
  PingOptions ping_options;
  std::string ping_vsock_text;
  std::vector<std::string> ping_events;
  add_connect_options(*ping, run.connect, ping_vsock_text);
  ping->add_option("-c,--count", ping_options.count, "round trips of each kind (default 10)")
      ->option_text("N")
      ->check(CLI::Range(std::size_t{1}, std::size_t{10000}));
  ping->add_option("-e,--event,--events", ping_events,
                   "events of the start requests (default: the four\nsoftware events of "
                   "perf stat's default set)");
  ping->add_flag("-j,--json", ping_options.json, "print one JSON object");

  auto* ctl = app.add_subcommand(
      "ctl", "inside the command: count or not, mark a phase");
  ctl->footer(
      "enable / disable: count from now on, or stop counting (perf's -D -1 and control\n"
      "fd); mark NAME: a new phase from now on; the report prints one block per phase\n"
      "and the total. Returns once the host has read the counters for it. Reaches the\n"
      "perfkvm that runs the command through PERFKVM_CTL; exit status 1 when it cannot.");
  CtlOptions ctl_options;
  std::vector<std::string> ctl_words;
  ctl->add_option("request", ctl_words, "enable, disable or mark NAME")
      ->option_text("enable|disable|mark NAME")
      ->required()
      ->expected(1, 2);
  ctl->add_option("--timeout", ctl_options.timeout_s,
                  "seconds to wait for the answer (default 5)")
      ->option_text("SECONDS")
      ->check(CLI::Range(0.001, 86400.0));

  if (auto text = cli::parse_command_line(app, args)) return *text;

  if (*ctl) {
    if (!shell_command.empty() || !command.empty()) throw UsageError("perfkvm ctl runs no command");
    std::string line = ctl_words.front();
    if (ctl_words.size() > 1) line += " " + ctl_words[1];
    auto parsed = parse_control_line(line);
    if (const auto* problem = std::get_if<std::string>(&parsed)) {
      throw UsageError("ctl: " + *problem);
    }
    ctl_options.request = std::get<ControlRequest>(parsed);
    return ctl_options;
  }

  const std::string& sub_vsock_text = !list_vsock_text.empty() ? list_vsock_text : ping_vsock_text;
  finish_connect_options(run.connect, vsock_text.empty() ? sub_vsock_text : vsock_text);
  if (*list) {
    if (!shell_command.empty() || !command.empty()) {
      throw UsageError("perfkvm list runs no command");
    }
    list_options.connect = run.connect;
    return list_options;
  }
  if (*ping) {
    if (!shell_command.empty() || !command.empty()) {
      throw UsageError("perfkvm ping runs no command");
    }
    if (!ping_events.empty()) {
      try {
        ping_options.events = cli::parse_event_args(ping_events);
      } catch (const std::invalid_argument& error) {
        throw UsageError(error.what());
      }
    }
    ping_options.connect = run.connect;
    return ping_options;
  }

  if (!shell_command.empty() && !command.empty()) {
    throw UsageError("give the command either with -p \"CMD\" or after --, not both");
  }
  if (shell_command.empty() && command.empty()) {
    throw UsageError(
        "no command given: perfkvm [OPTIONS] -p \"CMD\" or perfkvm [OPTIONS] -- CMD "
        "[ARGS...] (see perfkvm --help)");
  }
  static_cast<cli::CountOptions&>(run) = counting.finish();
  if (!control_text.empty()) run.control_fifos = parse_control_option(control_text);
  if (run.isolate) {
    if (!run.vcpus) {
      throw UsageError(
          "--isolate needs --vcpu LIST or --cpu N: with every vCPU counted there is nowhere to "
          "move the other tasks");
    }
    run.pin = true;
  }
  if (!shell_command.empty()) {
    run.argv = {"/bin/sh", "-c", shell_command};
    run.format.command = shell_command;
  } else {
    run.argv = command;
    run.format.command = join(command);
  }

  return run;
}

}  // namespace perfkvm::guest
