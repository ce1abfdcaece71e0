#include "guest-agent/run_command.hpp"

#include <cstring>

#include "guest-agent/command_runner.hpp"
#include "guest-agent/cpu_isolation.hpp"
#include "guest-agent/cpu_pinning.hpp"
#include "guest-agent/host_link.hpp"
#include "guest-agent/host_session.hpp"
#include "guest-agent/report_output.hpp"
#include "guest-agent/run_monitor.hpp"
#include "guest-agent/signal_watch.hpp"
#include "guest-agent/transport.hpp"

namespace perfkvm::guest {

namespace {

// Until the command ends: host messages, keepalives, signals. Returns the wait status.
int watch_command(GatedChild& child, SignalWatch& signals, HostSession& session,
                  RunMonitor& monitor) {
  const auto period = session.keepalive_period();
  auto next_keepalive = Clock::now() + period;
  for (;;) {
    const auto deadline = monitor.counting() ? next_keepalive : Clock::time_point::max();
    auto event = session.link().wait(deadline, signals.fd());
    switch (event.kind) {
      case LinkEvent::Kind::message:
        monitor.handle(event.message);
        break;
      case LinkEvent::Kind::host_gone:
        monitor.lose_session(event.reason);
        break;
      case LinkEvent::Kind::timeout:
        // A host that does not read gets no pile of keepalives, only the one queued.
        if (session.link().all_sent()) session.send(protocol::Keepalive{});
        next_keepalive = Clock::now() + period;
        break;
      case LinkEvent::Kind::extra_fd:
        for (const auto& info : signals.take()) {
          if (should_forward(info)) child.forward(static_cast<int>(info.ssi_signo));
        }
        if (const auto status = child.try_reap()) return *status;
        break;
    }
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
                    const ConnectOptions& connect, Diagnostics& diagnostics) {
  if (!monitor.counting()) return;
  protocol::Stop stop;
  stop.request_id = session.request_id();
  session.send(stop);
  const auto deadline = Clock::now() + connect.timeout();
  while (monitor.counting()) {
    auto event = session.link().wait(deadline, signals.fd());
    if (event.kind == LinkEvent::Kind::message) {
      monitor.handle(event.message);
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

  // Signals are blocked from before the fork, so that no SIGCHLD or Ctrl-C slips past.
  SignalWatch signals;
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

  report::FormatOptions format = options.format;
  format.target_label = target_label(welcome, started);
  if (options.pin) format.target_label += ", the command pinned to them";
  RunMonitor monitor(started, format, output, diagnostics);
  int wait_status = 0;
  try {
    wait_status = watch_command(child, signals, session, monitor);
    isolation.reset();  // the other tasks get their CPUs back as soon as the command ends
    monitor.command_ended();
    collect_report(session, monitor, signals, options.connect, diagnostics);
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
    output.write(report::format_report(*monitor.report(), format));
  }
  if (!output.error().empty()) diagnostics.error(output.error());
  return exit_status_of(wait_status);
}

}  // namespace perfkvm::guest
