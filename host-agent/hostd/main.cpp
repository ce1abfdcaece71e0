// perfkvm-hostd: one io_context runs everything — libvirt's event loop, the libvirt monitor,
// every domain's virtio-serial client, the vsock listener and all guest sessions.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <iostream>
#include <memory>

#include "host-agent/counters/column_plan.hpp"
#include "host-agent/export/export_routes.hpp"
#include "host-agent/export/fleet_export.hpp"
#include "host-agent/hostd/export_policy.hpp"
#include "host-agent/hostd/fd_limit.hpp"
#include "host-agent/hostd/hostd_options.hpp"
#include "host-agent/hostd/privileges.hpp"
#include "host-agent/http/http_server.hpp"
#include "host-agent/http/listen_address.hpp"
#include "host-agent/inventory/domain_registry.hpp"
#include "host-agent/inventory/libvirt_monitor.hpp"
#include "host-agent/libvirt/event_loop.hpp"
#include "host-agent/session/event_table.hpp"
#include "host-agent/transport/vsock_listener.hpp"
#include "perfkvm_config.hpp"
#include "util/log.hpp"


int main(int argc, char** argv) {
  using namespace perfkvm;
  using namespace perfkvm::host;

  CLI::App app;
  HostdOptions options;
  add_hostd_options(app, options);
  CLI11_PARSE(app, argc, argv);

  log::set_program("perfkvm-hostd");
  log::set_level(options.log_level);
  log::info(std::string("perfkvm-hostd ") + PERFKVM_VERSION + " starting (libvirt " +
            options.uri + ", channel " + options.channel_name + ")");
  for (const auto& problem : perf_privilege_problems()) log::error(problem);
  // Before any other libvirt call: libvirt 9.0 aborts in virResetLastError() otherwise.
  virInitialize();
  silence_libvirt_default_errors();
  std::signal(SIGPIPE, SIG_IGN);  // a guest hanging up must be an error code, not our death
  if (const auto fd_limit = raise_fd_limit()) {
    auto& counters = *options.session.host_counters;
    const std::size_t fits = counter_budget_for(counters.limit(), *fd_limit);
    if (fits < counters.limit()) {
      log::info("counter budget lowered from " + std::to_string(counters.limit()) + " to " +
                std::to_string(fits) + " to fit the fd limit of " + std::to_string(*fd_limit));
      counters.set_limit(fits);
    }
  }

  boost::asio::io_context io;
  LibvirtEventLoop libvirt_loop(io);

  const auto event_table = probe_event_table();
  std::string unsupported;
  for (const auto& event : event_table) {
    if (event.status != protocol::Availability::supported) {
      unsupported += (unsupported.empty() ? "" : ", ") + event.name;
    }
  }
  if (!unsupported.empty()) {
    log::info("events not supported on this host (reported as <not supported>): " + unsupported);
  }

  DomainRegistry registry(io.get_executor(), options.session, event_table, options.paths);
  LibvirtMonitor monitor(io.get_executor(), options.uri, options.channel_name, registry);
  std::shared_ptr<StreamListener> vsock;
  if (options.vsock) {
    try {
      vsock = std::make_shared<StreamListener>(
          StreamListener::open_vsock(io.get_executor(), options.vsock_port),
          &StreamListener::vsock_peer_cid,
          [&monitor](std::uint32_t cid) { return monitor.domain_for_cid(cid); },
          options.session, event_table);
      vsock->start();
      log::info("listening on vsock port " + std::to_string(options.vsock_port));
    } catch (const boost::system::system_error& error) {
      log::warning("no vsock listener (" + std::string(error.what()) +
                   "): guests can still use virtio-serial channels");
    }
  }
  // The export, when asked for: every running domain counted from the moment the registry
  // has it, served on --metrics-listen.
  std::unique_ptr<FleetExport> fleet;
  std::unique_ptr<http::HttpServer> metrics_server;
  if (options.metrics.enabled()) {
    const auto& metrics = options.metrics;
    const auto events = metrics.events.empty() ? default_export_events(event_table) : metrics.events;
    fleet = std::make_unique<FleetExport>(
        plan_named_columns(events, metrics.mode), metrics.min_read_interval,
        options.session.host_counters, [&options, &monitor] {
          HostdHealth health;
          health.version = PERFKVM_VERSION;
          health.sessions = *options.session.stats;
          health.counters_open = options.session.host_counters->in_use();
          health.counters_limit = options.session.host_counters->limit();
          health.libvirt_connected = monitor.connected();
          health.libvirt_connects = monitor.connects();
          return health;
        });
    std::optional<http::TlsFiles> tls;
    if (!metrics.tls_cert.empty()) tls = http::TlsFiles{metrics.tls_cert, metrics.tls_key, metrics.client_ca};
    try {
      metrics_server = std::make_unique<http::HttpServer>(
          io.get_executor(), std::get<boost::asio::ip::tcp::endpoint>(http::parse_listen_address(metrics.listen)),
          export_routes(*fleet), http::ServerLimits{}, tls);
      metrics_server->start();
    } catch (const std::exception& failure) {  // bad TLS files, or the address is taken
      log::error("cannot serve metrics on " + metrics.listen + ": " + failure.what());
      return 1;
    }
    std::string names;
    for (const auto& event : events) names += (names.empty() ? "" : ",") + event;
    log::info(std::string("serving metrics on ") + (tls ? "https://" : "http://") +
              http::format_endpoint(metrics_server->local_endpoint()) +
              "/metrics (events " + names + ")");
  }
  registry.on_running = [&fleet, &options](const DomainRegistry::Entry& entry) {
    if (fleet) export_if_permitted(*fleet, entry, options.session);
  };
  registry.on_stopped = [&vsock, &fleet](const DomainContext& domain) {
    if (vsock) vsock->close_domain(domain);
    if (fleet) fleet->domain_stopped(domain.uuid);
  };
  monitor.start();

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  boost::asio::steady_timer grace(io);
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    log::info("signal " + std::to_string(signal) + ": shutting down");
    monitor.stop();
    if (vsock) vsock->stop();
    if (metrics_server) metrics_server->stop();
    registry.stop_all();
    if (fleet) fleet->stop_all();
    // Give the channels a moment to wind down (sessions end, counters close, logs say so).
    grace.expires_after(std::chrono::milliseconds(300));
    grace.async_wait([&io](const boost::system::error_code&) { io.stop(); });
  });

  io.run();
  // While the export still exists: stopping a domain ends its export too.
  registry.stop_all();
  log::info("perfkvm-hostd stopped");
  return 0;
}
