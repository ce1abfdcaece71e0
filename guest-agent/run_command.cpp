#include "guest-agent/run_command.hpp"

#include <cstdlib>
#include <cstring>

#include "guest-agent/command_runner.hpp"
#include "guest-agent/control_endpoint.hpp"
#include "guest-agent/cpu_isolation.hpp"
#include "guest-agent/cpu_pinning.hpp"
#include "guest-agent/host_link.hpp"
#include "guest-agent/host_session.hpp"
#include "guest-agent/report_output.hpp"
#include "guest-agent/run_control.hpp"
#include "guest-agent/run_monitor.hpp"
#include "guest-agent/signal_watch.hpp"
#include "guest-agent/transport.hpp"
#include "report/number_format.hpp"

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
// -D's delay (`enable_at`; max: none). Returns the wait status.
int watch_command(GatedChild& child, RunWaits waits, HostSession& session, RunMonitor& monitor,
                  RunControl& control, Clock::time_point enable_at) {
  bool enable_due = enable_at != Clock::time_point::max();
  const auto period = session.keepalive_period();
  auto next_keepalive = Clock::now() + period;
  for (;;) {
    auto deadline = monitor.counting() ? next_keepalive : Clock::time_point::max();
    if (enable_due) deadline = std::min(deadline, enable_at);
    auto event = session.link().wait(deadline, waits.fd());
    switch (event.kind) {
      case LinkEvent::Kind::message:
        monitor.handle(event.message);
        break;
      case LinkEvent::Kind::host_gone:
        monitor.lose_session(event.reason);
        break;
      case LinkEvent::Kind::timeout:
        if (enable_due && Clock::now() >= enable_at) {
          enable_due = false;
          control.request(ControlRequest{ControlAction::enable, {}});
        }
        if (Clock::now() < next_keepalive) break;
        // A host that does not read gets no pile of keepalives, only the one queued.
        if (session.link().all_sent()) session.send(protocol::Keepalive{});
        next_keepalive = Clock::now() + period;
        break;
      case LinkEvent::Kind::extra_fd:
        for (const auto& info : waits.signals.take()) {
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
// wait (there is no command left to forward it to).
void collect_report(HostSession& session, RunMonitor& monitor, SignalWatch& signals,
                    RunControl& control, const ConnectOptions& connect,
                    Diagnostics& diagnostics) {
  if (!monitor.counting()) return;
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
        return;
      }
    } else {
      diagnostics.error("no report from perfkvm-hostd within " + connect.timeout_text() +
                        " after the command ended (over " +
                        session.link().transport().description() + "); no counts for this run");
      return;
    }
  }
}

// The report as perf stat prints it; with a region of interest only what it counted, one
// block per phase first when the workload marked phases.
void write_final_report(const protocol::Report& report, const RegionOfInterest& region,
                        const report::FormatOptions& format, ReportOutput& output,
                        Diagnostics& diagnostics) {
  if (!region.shapes_the_run()) {
    output.write(report::format_report(report, format));
    return;
  }
  const RegionOfInterest::Result result = region.finish(report);
  for (const auto& phase : result.phases) {
    report::FormatOptions phase_format = format;
    phase_format.phase = phase.name;
    output.write(report::format_report(phase.report, phase_format));
  }
  output.write(report::format_report(result.total, format));
  const auto seconds = [](std::uint64_t ns) { return report::fixed(static_cast<double>(ns) / 1e9, 3); };
  diagnostics.note("counted " + seconds(result.total.duration_ns) + " s of the " +
                   seconds(result.run_ns) + " s the counters ran (-D, perfkvm ctl): the report " +
                   "covers the counted time only");
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
  const bool delayed = options.delay_ms && *options.delay_ms != 0;
  if (delayed) {
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
  GatedChild child = GatedChild::spawn(options.argv, signals.original_mask());
  // If start fails, `child` dies at the gate (its destructor) and perfkvm exits 1.
  const protocol::Started started = session.start(start_request(options));
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

  report::FormatOptions format = options.format;
  format.target_label = target_label(welcome, started);
  if (options.pin) format.target_label += ", the command pinned to them";
  RunMonitor monitor(started, format, output, diagnostics, /*counting_at_start=*/!delayed);
  RunControl control(session, monitor, endpoint ? &*endpoint : nullptr, diagnostics);
  int wait_status = 0;
  try {
    wait_status = watch_command(child, RunWaits{signals, endpoint ? &*endpoint : nullptr}, session,
                                monitor, control, enable_at);
    isolation.reset();  // the other tasks get their CPUs back as soon as the command ends
    monitor.command_ended();
    collect_report(session, monitor, signals, control, options.connect, diagnostics);
  } catch (const std::exception& error) {
    // perfkvm cannot go on watching, but the command still decides the exit status.
    diagnostics.error(std::string(error.what()) + "; waiting for the command to end");
    return exit_status_of(child.wait());
  }

  if (child.exec_error() != 0) {
    // As a shell would say it; the counts of a command that never ran mean nothing.
    diagnostics.error("cannot run '" + options.argv.front() +
                      "': " + std::strerror(child.exec_error()));
  } else if (monitor.report()) {
    write_final_report(*monitor.report(), monitor.region(), format, output, diagnostics);
  } else if (const auto partial = monitor.partial_report()) {
    report::FormatOptions partial_format = format;
    partial_format.notes.push_back("partial: counts up to " +
                                   report::fixed(static_cast<double>(partial->duration_ns) / 1e9, 3) +
                                   " s only, where the session with perfkvm-hostd ended");
    write_final_report(*partial, monitor.region(), partial_format, output, diagnostics);
  }
  if (!output.error().empty()) diagnostics.error(output.error());
  return exit_status_of(wait_status);
}

}  // namespace perfkvm::guest
