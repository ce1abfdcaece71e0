#include "host-agent/admin/stat_command.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <stdexcept>

#include "host-agent/domains/domain_xml.hpp"
#include "host-agent/inventory/domain_registry.hpp"
#include "host-agent/session/measurement.hpp"

namespace perfkvm::host {

namespace asio = boost::asio;

namespace {

DomainPtr find_domain(virConnectPtr connection, const std::string& name_or_uuid) {
  DomainPtr domain(virDomainLookupByName(connection, name_or_uuid.c_str()));
  if (!domain) domain.reset(virDomainLookupByUUIDString(connection, name_or_uuid.c_str()));
  if (!domain) {
    throw std::runtime_error("domain '" + name_or_uuid +
                             "' not found (perfkvm-host list shows the domains)");
  }
  return domain;
}

std::vector<VcpuTarget> select_vcpus(const VcpuResolution& resolution,
                                     const std::optional<std::vector<std::uint32_t>>& wanted,
                                     const std::string& name) {
  std::vector<VcpuTarget> targets;
  for (const auto& thread : resolution.threads) {
    if (!wanted || std::count(wanted->begin(), wanted->end(), thread.vcpu)) {
      targets.push_back({thread.vcpu, thread.tid});
    }
  }
  if (wanted) {
    for (const auto vcpu : *wanted) {
      if (std::none_of(targets.begin(), targets.end(),
                       [&](const VcpuTarget& t) { return t.vcpu == vcpu; })) {
        throw std::runtime_error("domain '" + name + "' has no vCPU " + std::to_string(vcpu) +
                                 " (it has " + std::to_string(resolution.threads.size()) +
                                 " vCPU threads)");
      }
    }
  }
  return targets;
}

}  // namespace

int run_stat(virConnectPtr connection, const std::string& channel_name, const HostPaths& paths,
             const StatOptions& options, std::ostream& out) {
  const DomainPtr domain = find_domain(connection, options.domain);
  if (virDomainIsActive(domain.get()) != 1) {
    throw std::runtime_error("domain '" + options.domain + "' is not running");
  }
  LibvirtString xml(virDomainGetXMLDesc(domain.get(), 0));
  if (!xml) throw std::runtime_error("cannot read the domain's XML: " + libvirt_error());
  const auto info = parse_domain_xml(xml.get(), channel_name);
  const auto resolution = resolve_domain_threads(paths, info.name, info.uuid);
  if (resolution.threads.empty()) {
    throw std::runtime_error("cannot find the vCPU threads of domain '" + info.name +
                             "': " + resolution.problem);
  }
  auto targets = select_vcpus(resolution, options.vcpus, info.name);
  Measurement measurement(std::move(targets), options.events, options.mode,
                          options.format.per_vcpu);
  report::FormatOptions format = options.format;
  format.target_label = "VM '" + info.name + "' (" +
                        std::to_string(measurement.vcpus().size()) + " vCPUs)";

  asio::io_context io;
  asio::steady_timer interval_timer(io);
  asio::steady_timer end_timer(io);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  bool finished = false;
  auto finish = [&] {
    if (finished) return;
    finished = true;
    interval_timer.cancel();
    end_timer.cancel();
    signals.cancel();
    const auto report =
        measurement.finish("", 0, protocol::EndReason::stopped, /*samples_dropped=*/0);
    out << report::format_report(report, format) << std::flush;
  };
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (!ec) finish();
  });
  if (options.duration_s) {
    end_timer.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(*options.duration_s)));
    end_timer.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) finish();
    });
  }
  measurement.start();
  if (options.interval_ms) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          std::optional<protocol::Sample> previous;
          auto deadline = measurement.started_at();
          while (!finished) {
            deadline += std::chrono::milliseconds(*options.interval_ms);
            interval_timer.expires_at(deadline);
            auto [ec] = co_await interval_timer.async_wait(asio::as_tuple(asio::use_awaitable));
            if (ec || finished) co_return;
            auto sample = measurement.sample("", 0);
            out << report::format_interval(measurement.columns(), sample,
                                           previous ? &*previous : nullptr, format,
                                           !previous.has_value())
                << std::flush;
            previous = std::move(sample);
          }
        },
        asio::detached);
  }
  io.run();
  return 0;
}

}  // namespace perfkvm::host
