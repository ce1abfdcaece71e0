#include "host-agent/hostd/hostd_options.hpp"

#include "protocol/frame.hpp"
#include "perfkvm_config.hpp"

namespace perfkvm::host {

void add_hostd_options(CLI::App& app, HostdOptions& options) {
  app.description(
      "perfkvm-hostd: counts perf events on KVM guests' vCPU threads when a program in the "
      "guest asks (perfkvm, over virtio-serial or vsock; no IP networking).\n"
      "It finds libvirt's domains and their perfkvm channels, follows domains as they start "
      "and stop, and serves each guest on its own channel. Needs root or CAP_PERFMON, and "
      "read access to libvirt.");
  app.set_version_flag("--version", std::string("perfkvm-hostd ") + PERFKVM_VERSION);
  app.add_option("-c,--connect", options.uri, "libvirt URI")->capture_default_str();
  app.add_option("--channel-name", options.channel_name,
                 "virtio-serial channel target name to serve")
      ->capture_default_str();
  app.add_option("--vsock-port", options.vsock_port, "AF_VSOCK port to listen on")
      ->capture_default_str()
      ->check(CLI::Range(1u, 0xFFFFFFFEu));
  app.add_flag("!--no-vsock", options.vsock, "do not listen on AF_VSOCK");

  auto& s = options.session;
  app.add_option("--min-interval", s.min_interval_ms,
                 "shortest sample interval a guest may ask for, ms")
      ->capture_default_str()
      ->check(CLI::Range(1u, protocol::kMaxIntervalMs));
  app.add_option("--max-events", s.max_events, "events per request")
      ->capture_default_str()
      ->check(CLI::Range(1u, static_cast<std::uint32_t>(protocol::kMaxEventsPerRequest)));
  app.add_option("--max-sessions", s.max_sessions, "concurrent sessions per domain")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1024u));
  app.add_option("--max-frame", s.max_frame_bytes, "largest frame accepted or sent, bytes")
      ->capture_default_str()
      ->check(CLI::Range(std::uint32_t{4096}, static_cast<std::uint32_t>(protocol::kDefaultMaxPayload)));
  app.add_option("--lease", s.lease_ms,
                 "ms of silence after which a guest's counters are closed (guests send "
                 "keepalives)")
      ->capture_default_str()
      ->check(CLI::Range(100u, 3'600'000u));
  app.add_option("--max-counters", s.max_counters,
                 "perf counters one request may open (columns x vCPUs)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1'000'000u));
  app.add_option_function<std::uint64_t>(
         "--max-host-counters",
         [&s](std::uint64_t limit) { s.host_counters->set_limit(limit); },
         "perf counters all running requests together may hold (lowered to fit hostd's "
         "fd limit)")
      ->default_str(std::to_string(s.host_counters->limit()))
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{10'000'000}));
  app.add_option("--max-starts", s.max_starts_per_second,
                 "requests one guest channel may start per second (faster ones wait)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 100'000u));
  app.add_option("--max-queued-samples", s.max_queued_samples,
                 "samples waiting for a slow guest before new ones are dropped")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{4096}));

  app.add_option("--proc-root", options.paths.proc_root, "where /proc is")->capture_default_str();
  app.add_option("--libvirt-run-dir", options.paths.libvirt_qemu_run_dir,
                 "libvirt's qemu runtime directory (<name>.pid, status XML)")
      ->capture_default_str();
  app.add_flag_callback("-v,--verbose", [&options] { options.log_level = log::Level::debug; },
                        "log debug messages");
  app.add_flag_callback("-q,--quiet", [&options] { options.log_level = log::Level::warning; },
                        "log only warnings and errors");
}

}  // namespace perfkvm::host
