#include "host-agent/export/families.hpp"

#include <map>
#include <string>
#include <utility>

#include "host-agent/metrics/metric_family.hpp"
#include "protocol/enum_strings.hpp"

namespace perfkvm::host {

namespace {

using metrics::Family;
using metrics::FamilyType;
using metrics::Label;

std::vector<Label> vcpu_labels(const DomainIdentity& domain, std::uint32_t vcpu) {
  return {{"domain", domain.name}, {"uuid", domain.uuid}, {"vcpu", std::to_string(vcpu)}};
}

void add_scope(std::vector<Label>& labels, const CounterColumn& column) {
  if (column.scope != protocol::Scope::all) {
    labels.push_back({"scope", std::string(protocol::to_string(column.scope))});
  }
}

// The two label sets of one (vCPU, column): its counter's, and its running ratio's.
std::vector<Label> series_labels(const DomainIdentity& domain, std::uint32_t vcpu,
                                 const CounterColumn& column) {
  auto labels = vcpu_labels(domain, vcpu);
  add_scope(labels, column);
  return labels;
}

std::vector<Label> ratio_labels(const DomainIdentity& domain, std::uint32_t vcpu,
                                const CounterColumn& column) {
  auto labels = vcpu_labels(domain, vcpu);
  labels.push_back({"event", std::string(column.event->name)});
  add_scope(labels, column);
  return labels;
}

Family make_family(std::string name, FamilyType type, std::string help, std::string unit = {}) {
  Family family;
  family.name = std::move(name);
  family.type = type;
  family.unit = std::move(unit);
  family.help = std::move(help);
  return family;
}

Family counter(std::string name, std::string help, double value, std::string unit = {}) {
  Family family = make_family(std::move(name), FamilyType::counter, std::move(help), std::move(unit));
  family.samples.push_back({{}, value});
  return family;
}

Family gauge(std::string name, std::string help, double value) {
  Family family = make_family(std::move(name), FamilyType::gauge, std::move(help));
  family.samples.push_back({{}, value});
  return family;
}

}  // namespace

void render_vcpu_labels(const DomainIdentity& domain, std::uint32_t vcpu,
                        const std::vector<CounterColumn>& columns, VcpuTotals& totals) {
  totals.series_labels.clear();
  totals.ratio_labels.clear();
  for (const auto& column : columns) {
    totals.series_labels.push_back(metrics::render_labels(series_labels(domain, vcpu, column)));
    totals.ratio_labels.push_back(metrics::render_labels(ratio_labels(domain, vcpu, column)));
  }
}

std::vector<Family> vcpu_families(const std::vector<CounterColumn>& columns,
                                  const std::vector<const DomainTotals*>& domains) {
  // One family per event: both scopes of a split hardware event are series of one family.
  std::vector<Family> families;
  std::vector<std::size_t> family_of_column;
  std::vector<double> divisor_of_column;
  std::map<std::string, std::size_t> index_by_name;
  for (const auto& column : columns) {
    const auto event = metrics::family_for_event(*column.event);
    auto [it, added] = index_by_name.try_emplace(event.name, families.size());
    if (added) families.push_back(make_family(event.name, FamilyType::counter, event.help, event.unit));
    family_of_column.push_back(it->second);
    divisor_of_column.push_back(event.divisor);
  }
  Family ratio = make_family(
      "perfkvm_vcpu_counter_running_ratio", FamilyType::gauge,
      "Share of the last read's enabled time the counter was on the PMU (below 1: multiplexed, "
      "the count is scaled up to estimate the whole time)");

  std::size_t series = 0;
  for (const DomainTotals* domain : domains) series += domain->vcpus.size() * columns.size();
  for (auto& family : families) family.samples.reserve(series);
  ratio.samples.reserve(series);
  for (const DomainTotals* domain : domains) {
    for (const auto& [vcpu, totals] : domain->vcpus) {
      const bool rendered = totals.series_labels.size() == columns.size() &&
                            totals.ratio_labels.size() == columns.size();
      for (std::size_t c = 0; c < columns.size() && c < totals.columns.size(); ++c) {
        const auto& total = totals.columns[c];
        if (!total) continue;
        const double value = total->total() / divisor_of_column[c];
        const auto share = total->running_ratio();
        if (rendered) {
          families[family_of_column[c]].samples.push_back({{}, value, totals.series_labels[c]});
          if (share) ratio.samples.push_back({{}, *share, totals.ratio_labels[c]});
          continue;
        }
        families[family_of_column[c]].samples.push_back(
            {series_labels(domain->identity, vcpu, columns[c]), value});
        if (share) ratio.samples.push_back({ratio_labels(domain->identity, vcpu, columns[c]), *share});
      }
    }
  }
  families.push_back(std::move(ratio));
  return families;
}

Family domain_info_family(const std::vector<const DomainTotals*>& domains) {
  Family info = make_family("perfkvm_domain", FamilyType::info,
                            "A running libvirt domain perfkvm-hostd counts, and how its guest reaches the host");
  for (const DomainTotals* domain : domains) {
    const auto& id = domain->identity;
    info.samples.push_back({{{"domain", id.name},
                             {"uuid", id.uuid},
                             {"channel", id.channel},
                             {"vsock_cid", id.vsock_cid ? std::to_string(*id.vsock_cid) : std::string()}},
                            1});
  }
  return info;
}

std::vector<Family> hostd_families(const HostdHealth& health) {
  const auto& s = health.sessions;
  std::vector<Family> families;
  Family build = make_family("perfkvm_hostd_build", FamilyType::info, "perfkvm-hostd's version");
  build.samples.push_back({{{"version", health.version}}, 1});
  families.push_back(std::move(build));
  families.push_back(gauge("perfkvm_hostd_domains_running",
                           "Running libvirt domains perfkvm-hostd follows", double(health.domains_running)));
  families.push_back(gauge("perfkvm_hostd_sessions_active", "Guest sessions open now", double(s.sessions_active)));
  families.push_back(counter("perfkvm_hostd_sessions_started", "Guest sessions welcomed", double(s.sessions_started)));
  families.push_back(counter("perfkvm_hostd_requests_started",
                             "Guest counting requests started (counters opened)", double(s.requests_started)));
  families.push_back(counter("perfkvm_hostd_samples_sent", "Interval samples sent to guests", double(s.samples_sent)));
  families.push_back(counter("perfkvm_hostd_samples_dropped",
                             "Interval samples dropped because a guest was not reading", double(s.samples_dropped)));
  families.push_back(counter("perfkvm_hostd_frames_discarded",
                             "Frames from guests larger than the frame limit", double(s.frames_discarded)));
  families.push_back(counter("perfkvm_hostd_discarded_bytes",
                             "Bytes from guests that were not part of a whole frame", double(s.bytes_discarded),
                             "bytes"));
  Family errors = make_family("perfkvm_hostd_guest_errors", FamilyType::counter,
                              "Error messages sent to guests, by protocol error code");
  for (const auto& [code, name] : protocol::EnumStrings<protocol::ErrorCode>::table) {
    const auto it = s.errors_sent.find(code);
    errors.samples.push_back({{{"code", std::string(name)}}, double(it == s.errors_sent.end() ? 0 : it->second)});
  }
  families.push_back(std::move(errors));
  families.push_back(gauge("perfkvm_hostd_counters_open",
                           "perf counters open now, guest requests and the export together", double(health.counters_open)));
  families.push_back(gauge("perfkvm_hostd_counters_limit",
                           "perf counters hostd may hold at once (--max-host-counters)", double(health.counters_limit)));
  families.push_back(gauge("perfkvm_hostd_libvirt_connected", "1 while hostd is connected to libvirt",
                           health.libvirt_connected ? 1 : 0));
  families.push_back(counter("perfkvm_hostd_libvirt_reconnects",
                             "Times hostd connected to libvirt again after losing it",
                             double(health.libvirt_connects > 0 ? health.libvirt_connects - 1 : 0)));
  families.push_back(counter("perfkvm_hostd_export_reads",
                             "Reads of every exported counter, one per scrape at most per --metrics-min-read-interval",
                             double(health.scrape_reads)));
  return families;
}

}  // namespace perfkvm::host
