#include "guest-agent/run_command.hpp"

#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

#include "guest-agent/command_runner.hpp"
#include "guest-agent/control_endpoint.hpp"
#include "guest-agent/cpu_isolation.hpp"
#include "guest-agent/cpu_pinning.hpp"
#include "guest-agent/host_link.hpp"
#include "guest-agent/host_session.hpp"
#include "guest-agent/report_output.hpp"
#include "guest-agent/run_control.hpp"
#include "guest-agent/run_monitor.hpp"
#include "guest-agent/session_recovery.hpp"
#include "guest-agent/run_reports.hpp"
#include "guest-agent/signal_watch.hpp"
#include "guest-agent/transport.hpp"
#include "report/number_format.hpp"
#include "report/numeric_locale.hpp"

namespace perfkvm::guest {

namespace {

// What the run loop waits on besides the host: the signals, and the control endpoint's
// connections when there is one (its epoll descriptor then includes the signalfd).
struct RunWaits {
  SignalWatch& signals;
  ControlEndpoint* control;
  int fd() const { return control ? control->fd() : signals.fd(); }
};

// Until the command ends: host messages, keepalives, signals, control requests, the end of
// -D's delay (`enable_at`; max: none). Returns the wait status; `stop_signalled` is set when
// SIGINT, SIGTERM or SIGHUP came (forwarded or not): the user wants no further runs.
int watch_command(GatedChild& child, RunWaits waits, HostSession& session, RunMonitor& monitor,
                  RunControl& control, SessionRecovery& recovery, Clock::time_point enable_at,
                  bool& stop_signalled) {
  bool enable_due = enable_at != Clock::time_point::max();
  auto next_keepalive = Clock::now() + session.keepalive_period();
  for (;;) {
    auto deadline = monitor.counting() ? next_keepalive : Clock::time_point::max();
    if (enable_due) deadline = std::min(deadline, enable_at);
    deadline = std::min(deadline, recovery.next_attempt(monitor, Clock::now()));
    auto event = session.link().wait(deadline, waits.fd());
    switch (event.kind) {
      case LinkEvent::Kind::message:
        monitor.handle(event.message);
        break;
      case LinkEvent::Kind::host_gone:
        monitor.lose_session(event.reason);
        break;
      case LinkEvent::Kind::timeout:
        monitor.check_host_silence(Clock::now());
        if (monitor.lost()) {
          recovery.attempt_if_due(monitor, Clock::now());
          // A new session's lease may differ.
          if (monitor.counting()) next_keepalive = Clock::now() + session.keepalive_period();
          break;
        }
        if (enable_due && Clock::now() >= enable_at) {
          enable_due = false;
          control.request(ControlRequest{ControlAction::enable, {}});
        }
        if (Clock::now() < next_keepalive) break;
        // A host that does not read gets no pile of keepalives, only the one queued.
        if (session.link().all_sent()) session.send(protocol::Keepalive{});
        next_keepalive = Clock::now() + session.keepalive_period();
        break;
      case LinkEvent::Kind::extra_fd:
        for (const auto& info : waits.signals.take()) {
          if (info.ssi_signo != SIGCHLD) stop_signalled = true;
          if (should_forward(info)) child.forward(static_cast<int>(info.ssi_signo));
        }
        control.take_requests();
        if (const auto status = child.try_reap()) return *status;
        break;
    }
    control.deliver_answers();
  }
}

bool interrupted(SignalWatch& signals) {
  for (const auto& info : signals.take()) {
    if (info.ssi_signo != SIGCHLD) return true;
  }
  return false;
}

// After the command: stop, and wait for the report unless it came already. Ctrl-C ends the
// wait (there is no command left to forward it to); then false.
bool collect_report(HostSession& session, RunMonitor& monitor, SignalWatch& signals,
                    RunControl& control, const ConnectOptions& connect,
                    Diagnostics& diagnostics) {
  if (!monitor.counting()) return true;
  protocol::Stop stop;
  stop.request_id = session.request_id();
  session.send(stop);
  const auto deadline = Clock::now() + connect.timeout();
  while (monitor.counting()) {
    auto event = session.link().wait(deadline, signals.fd());
    if (event.kind == LinkEvent::Kind::message) {
      monitor.handle(event.message);
      control.deliver_answers();  // requests still open when the command ended
    } else if (event.kind == LinkEvent::Kind::host_gone) {
      monitor.lose_session(event.reason);
    } else if (event.kind == LinkEvent::Kind::extra_fd) {
      if (interrupted(signals)) {
        diagnostics.error(
            "interrupted while waiting for the report of perfkvm-hostd; no counts "
            "for this run");
        return false;
      }
    } else {
      diagnostics.error("no report from perfkvm-hostd within " + connect.timeout_text() +
                        " after the command ended (over " +
                        session.link().transport().description() + "); no counts for this run");
      return true;
    }
  }
  return true;
}


// What every run of a perfkvm invocation shares (-r N runs them on one session).
struct RunSetting {
  const RunOptions& options;
  HostSession& session;
  SignalWatch& signals;
  ControlEndpoint* endpoint;  // none when PERFKVM_CTL could not be set up
  ReportOutput& output;
  Diagnostics& diagnostics;
};

// How one run of the command ended.
struct RunEnd {
  int wait_status = 0;
  std::optional<RunReports> reports;  // none without a report (or without a command run)
  bool partial = false;               // `reports` end where the session was lost
  bool last = false;                  // interrupted, session lost, ...: no run after this one
  report::FormatOptions format;       // as this run's report prints (its target label)
};

// The report's notes on what was not counted between a lost session and the next (human:
// "# ..." lines; CSV and JSON carry it in the lines, FormatOptions::not_counted).
void note_gaps(const RunMonitor& monitor, report::FormatOptions& format) {
  for (const auto& gap : monitor.gaps()) {
    format.not_counted.push_back({gap.from_ns, gap.to_ns});
    format.notes.push_back("not counted from " +
                           report::fixed(static_cast<double>(gap.from_ns) / 1e9, 3) + " s to " +
                           report::fixed(static_cast<double>(gap.to_ns) / 1e9, 3) +
                           " s: the session with perfkvm-hostd was lost there and a new one "
                           "counted on; the totals and the elapsed time cover the counted time "
                           "only");
  }
}

// Fork the command held at a gate, start counting, release it, watch it, stop, collect the
// report. Throws GuestError when the host does not start counting (the command never runs).
RunEnd run_once(const RunSetting& run) {
  const RunOptions& options = run.options;
  Diagnostics& diagnostics = run.diagnostics;
  const bool delayed = options.delay_ms && *options.delay_ms != 0;
  GatedChild child = GatedChild::spawn(options.argv, run.signals.original_mask());
  // If start fails, `child` dies at the gate (its destructor).
  const protocol::Start request = start_request(options);
  const protocol::Started started = run.session.start(request);
  // Before the gate opens, so that nothing of the command runs elsewhere; on failure the
  // command never runs (the host's counters close with the session).
  if (options.pin) pin_to_vcpus(child.pid(), started.vcpus);
  // perfkvm itself moves too: its polling would otherwise run on a counted vCPU.
  std::optional<VcpuIsolation> isolation;
  if (options.isolate) {
    isolation.emplace(user_tasks("/proc", {child.pid()}), started.vcpus);
    diagnostics.note("--isolate: " + isolation->summary());
  }
  child.release();
  // -D MS: counting begins MS after the command is let go (-D -1: at perfkvm ctl enable).
  auto enable_at = Clock::time_point::max();
  if (delayed && *options.delay_ms > 0) {
    enable_at = Clock::now() + std::chrono::milliseconds(*options.delay_ms);
  }

  RunEnd end;
  end.format = options.format;
  // perf's human numbers follow the environment's LC_NUMERIC (numeric_locale.hpp says what a
  // static perfkvm does where the guest's locale data is missing).
  end.format.numeric = report::numeric_locale("");
  end.format.target_label = target_label(run.session.welcome(), started);
  if (options.pin) end.format.target_label += ", the command pinned to them";
  RunMonitor monitor(started, end.format, run.output, diagnostics, /*counting_at_start=*/!delayed,
                     std::chrono::milliseconds(run.session.welcome().limits.lease_ms));
  RunControl control(run.session, monitor, run.endpoint, diagnostics);
  SessionRecovery recovery(run.session, options.connect, request, diagnostics);
  bool stop_signalled = false;
  try {
    end.wait_status = watch_command(child, RunWaits{run.signals, run.endpoint}, run.session,
                                    monitor, control, recovery, enable_at, stop_signalled);
    isolation.reset();  // the other tasks get their CPUs back as soon as the command ends
    monitor.command_ended();
    if (!collect_report(run.session, monitor, run.signals, control, options.connect,
                        diagnostics)) {
      stop_signalled = true;
    }
  } catch (const std::exception& error) {
    // perfkvm cannot go on watching, but the command still decides the exit status.
    diagnostics.error(std::string(error.what()) + "; waiting for the command to end");
    end.wait_status = child.wait();
    end.last = true;
    return end;
  }

  if (child.exec_error() != 0) {
    // As a shell would say it; the counts of a command that never ran mean nothing.
    diagnostics.error("cannot run '" + options.argv.front() +
                      "': " + std::strerror(child.exec_error()));
    end.last = true;
  } else if (monitor.report()) {
    end.reports = reports_of_run(*monitor.report(), monitor.region());
    end.last = stop_signalled;
    note_gaps(monitor, end.format);
  } else {
    if (const auto partial = monitor.partial_report()) {
      end.reports = reports_of_run(*partial, monitor.region());
      end.partial = true;
      const double counted_to = static_cast<double>(monitor.counted_up_to_ns().value_or(0));
      note_gaps(monitor, end.format);
      end.format.notes.push_back("partial: counts up to " + report::fixed(counted_to / 1e9, 3) +
                                 " s only, where the session with perfkvm-hostd ended");
    }
    end.last = true;
  }
  return end;
}

void write_final_report(const std::vector<RunReports>& runs, const report::FormatOptions& format,
                        ReportOutput& output, Diagnostics& diagnostics) {
  const FinalReport final_report = format_runs(runs, format);
  output.write(final_report.text);
  for (const auto& note : final_report.notes) diagnostics.note(note);
}

}  // namespace

protocol::Start start_request(const RunOptions& options) {
  protocol::Start start;
  start.events = options.events;
  start.interval_ms = options.interval_ms;
  start.vcpus = options.vcpus;
  start.per_vcpu = options.format.per_vcpu;
  start.mode = options.mode;
  return start;
}

std::string target_label(const protocol::Welcome& welcome, const protocol::Started& started) {
  const std::string vm =
      welcome.domain_name.empty() ? "this VM" : "VM '" + printable(welcome.domain_name) + "'";
  if (started.vcpus.size() >= welcome.vcpus) {
    return vm + " (" + std::to_string(started.vcpus.size()) + " vCPUs)";
  }
  std::string list;
  for (const auto vcpu : started.vcpus) list += (list.empty() ? "" : ",") + std::to_string(vcpu);
  return vm + " (vCPUs " + list + " of " + std::to_string(welcome.vcpus) + ")";
}

int run_command(const RunOptions& options, Diagnostics& diagnostics) {
  ReportOutput output = ReportOutput::open(options.output_path);
  HostLink link(open_transport(options.connect), diagnostics);
  HostSession session(link, options.connect.timeout(), options.connect.timeout_text());
  const protocol::Welcome& welcome = session.open();
  if (options.delay_ms && *options.delay_ms != 0) {
    if (const auto reason = RunControl::unsupported_reason(welcome); !reason.empty()) {
      throw GuestError("-D needs a snapshot of the counters where counting begins: " + reason);
    }
  }

  // Signals are blocked from before the fork, so that no SIGCHLD or Ctrl-C slips past.
  SignalWatch signals;
  // The command and its children find this run through PERFKVM_CTL (perfkvm ctl). Without an
  // endpoint the run goes on, and perfkvm ctl says it cannot reach it.
  std::optional<ControlEndpoint> endpoint;
  try {
    endpoint.emplace();
    endpoint->watch(signals.fd());
    ::setenv(kControlEnvironment, endpoint->path().c_str(), 1);
  } catch (const GuestError& error) {
    if (options.control_fifos) throw;  // what the user asked for cannot work
    diagnostics.warning(std::string(error.what()) + "; perfkvm ctl will not reach this run");
    ::unsetenv(kControlEnvironment);
  }
  if (options.control_fifos) {
    if (const auto reason = RunControl::unsupported_reason(welcome); !reason.empty()) {
      throw GuestError("--control needs snapshots of the counters: " + reason);
    }
    const auto& fifos = *options.control_fifos;
    endpoint->add_fifo(open_control_fifo(fifos.control),
                       fifos.ack ? open_control_fifo(*fifos.ack) : UniqueFd());
  }

  const RunSetting setting{options, session, signals, endpoint ? &*endpoint : nullptr, output,
                           diagnostics};
  // -r N: run after run on the one session, each its own request; the first run's failure to
  // start is perfkvm's failure (exit 1), a later one's ends the repeats.
  std::vector<RunReports> completed;
  RunEnd end;
  std::uint32_t run_number = 1;
  for (; run_number <= options.repeat; ++run_number) {
    if (options.repeat > 1) {
      diagnostics.debug("run " + std::to_string(run_number) + " of " +
                        std::to_string(options.repeat));
    }
    try {
      end = run_once(setting);
    } catch (const GuestError& error) {
      if (run_number == 1) throw;
      diagnostics.error("run " + std::to_string(run_number) + " of " +
                        std::to_string(options.repeat) + " did not start: " + error.what());
      break;
    }
    if (end.reports && !end.partial) completed.push_back(*end.reports);
    if (end.last) break;
  }

  if (!completed.empty()) {
    if (completed.size() < options.repeat) {
      diagnostics.warning("the repeats ended after run " +
                          std::to_string(std::min(run_number, options.repeat)) + " of " +
                          std::to_string(options.repeat) + ": the report is the mean of " +
                          (completed.size() == 1
                               ? std::string("the 1 run")
                               : "the " + std::to_string(completed.size()) + " runs") +
                          " that completed");
    }
    write_final_report(completed, end.format, output, diagnostics);
  } else if (end.reports) {
    write_final_report({*end.reports}, end.format, output, diagnostics);  // partial
  }
  if (!output.error().empty()) diagnostics.error(output.error());
  return exit_status_of(end.wait_status);
}

}  // namespace perfkvm::guest
