#include "host-agent/admin/stat_command.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <stdexcept>

#include "host-agent/counters/measurement.hpp"
#include "host-agent/counters/sampling_loop.hpp"
#include "host-agent/counters/vcpu_selection.hpp"
#include "host-agent/domains/domain_xml.hpp"
#include "host-agent/domains/domain_threads.hpp"
#include "report/numeric_locale.hpp"

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

// A reading as the formatter takes it: stat's own samples and report, addressed to nobody.
protocol::Sample interval_sample(MeasurementReading reading) {
  protocol::Sample sample;
  sample.elapsed_ns = reading.elapsed_ns;
  sample.totals = std::move(reading.totals);
  sample.vcpus = std::move(reading.vcpus);  // printed only with -A
  return sample;
}

protocol::Report final_report(MeasurementReading reading,
                              const std::vector<protocol::Column>& columns,
                              protocol::EndReason reason) {
  protocol::Report report;
  report.reason = reason;
  report.duration_ns = reading.elapsed_ns;
  report.columns = columns;
  report.totals = std::move(reading.totals);
  report.vcpus = std::move(reading.vcpus);
  return report;
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
  auto selection = select_vcpus(resolution.threads, options.vcpus);
  if (selection.missing) {
    throw std::runtime_error("domain '" + info.name + "' has no vCPU " +
                             std::to_string(*selection.missing) + " (it has " +
                             std::to_string(resolution.threads.size()) + " vCPU threads)");
  }
  Measurement measurement(std::move(selection.threads),
                          plan_named_columns(options.events, options.mode));
  report::FormatOptions format = options.format;
  format.numeric = report::numeric_locale("");  // perf's human numbers follow LC_NUMERIC
  format.target_label = "VM '" + info.name + "' (" +
                        std::to_string(measurement.vcpus().size()) + " vCPUs)";

  asio::io_context io;
  asio::steady_timer interval_timer(io);
  asio::steady_timer end_timer(io);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  bool finished = false;
  auto finish = [&](protocol::EndReason reason) {
    if (finished) return;
    finished = true;
    interval_timer.cancel();
    end_timer.cancel();
    signals.cancel();
    const auto report = final_report(measurement.finish(), measurement.columns(), reason);
    out << report::format_report(report, format) << std::flush;
  };
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (!ec) finish(protocol::EndReason::stopped);
  });
  if (options.duration_s) {
    end_timer.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(*options.duration_s)));
    end_timer.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) finish(protocol::EndReason::stopped);
    });
  }
  // Out here, not in the block below: the sampler uses them until io.run() returns.
  std::optional<protocol::Sample> previous;
  std::size_t blocks_printed = 0;
  auto print_interval = [&](MeasurementReading reading) {
    auto sample = interval_sample(std::move(reading));
    out << report::format_interval(measurement.columns(), sample,
                                   previous ? &*previous : nullptr, format,
                                   report::interval_header_due(blocks_printed++))
        << std::flush;
    previous = std::move(sample);
  };
  measurement.start();
  if (options.interval_ms) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          const SamplingEnd end =
              co_await sample_at_intervals(interval_timer, measurement,
                                           std::chrono::milliseconds(*options.interval_ms),
                                           print_interval);
          // Like perf stat -p when the process exits: the report, with the note that
          // counting ended early.
          if (end == SamplingEnd::threads_ended) finish(protocol::EndReason::domain_stopped);
        },
        asio::detached);
  }
  io.run();
  return 0;
}

}  // namespace perfkvm::host
