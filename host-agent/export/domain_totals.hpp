// What the export knows of one running domain at the last read: its identity and, per counted
// vCPU, one monotonic scaled total per column. Plain data: the families are made from it
// (families.hpp) and DomainCounters keeps it up to date from the counters.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "host-agent/counters/column_plan.hpp"
#include "host-agent/metrics/scaled_total.hpp"

namespace perfkvm::host {

struct DomainIdentity {
  std::string name;
  std::string uuid;
  std::string channel;                    // the perfkvm channel's socket path, or empty
  std::optional<std::uint32_t> vsock_cid;  // from the live XML
  bool operator==(const DomainIdentity&) const = default;
};

struct VcpuTotals {
  // One per column; nullopt where the column is not counted on this thread (the host cannot
  // count the event: no series, as perf prints <not supported> rather than 0).
  std::vector<std::optional<metrics::ScaledTotal>> columns;
  // Each column's label sets as rendered (families.hpp: render_vcpu_labels), made once when
  // the vCPU is first counted rather than at every scrape; empty: made at each scrape.
  std::vector<std::string> series_labels;  // domain, uuid, vcpu[, scope]
  std::vector<std::string> ratio_labels;   // the same with event
};

struct DomainTotals {
  DomainIdentity identity;
  std::vector<CounterColumn> columns;      // the export's plan, the same for every domain
  std::map<std::uint32_t, VcpuTotals> vcpus;  // by vCPU index: the vCPUs counted now
};

}  // namespace perfkvm::host
