// The metric families perfkvm-hostd serves, made from the export's totals and hostd's health:
// the names and labels are the contract dashboards are written against (README, "Monitor a
// fleet"). Pure: no counters, no I/O.
//
//   perfkvm_vcpu_<event>_total{domain,uuid,vcpu[,scope]}      counter (clocks: _seconds_total)
//   perfkvm_vcpu_counter_running_ratio{domain,uuid,vcpu,event[,scope]}  gauge
//   perfkvm_domain_info{domain,uuid,channel,vsock_cid}        info (1)
//   perfkvm_hostd_*                                           hostd's health
// `scope` ("guest" or "host") only on hardware columns split by --metrics-mode.
#pragma once

#include <vector>

#include "host-agent/export/domain_totals.hpp"
#include "host-agent/export/hostd_health.hpp"
#include "host-agent/metrics/exposition.hpp"

namespace perfkvm::host {

// Renders `totals`' label sets for each of `columns` once (VcpuTotals::series_labels and
// ratio_labels), as vcpu_families would label them.
void render_vcpu_labels(const DomainIdentity& domain, std::uint32_t vcpu,
                        const std::vector<CounterColumn>& columns, VcpuTotals& totals);

// `columns`: the export's plan (every domain has the same); domains in the order given.
std::vector<metrics::Family> vcpu_families(const std::vector<CounterColumn>& columns,
                                           const std::vector<const DomainTotals*>& domains);
metrics::Family domain_info_family(const std::vector<const DomainTotals*>& domains);
std::vector<metrics::Family> hostd_families(const HostdHealth& health);

}  // namespace perfkvm::host
