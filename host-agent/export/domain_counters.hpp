// One running domain, counted for the export from the moment hostd finds it until it stops:
// per vCPU thread one Measurement of the export's columns (one per thread, so that a vCPU
// hot-plugged or unplugged starts or ends its own series and leaves the others alone), its
// share of the host-wide counter budget, and the monotonic totals the families are made of.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "host-agent/counters/measurement.hpp"
#include "host-agent/export/domain_totals.hpp"
#include "host-agent/session/counter_budget.hpp"
#include "host-agent/threads/vcpu_threads.hpp"

namespace perfkvm::host {

class DomainCounters {
 public:
  DomainCounters(DomainIdentity identity, std::vector<CounterColumn> plan,
                 std::shared_ptr<CounterBudget> budget);

  // Counts on exactly `threads` from now on: a vCPU not counted yet, or whose thread id
  // changed, gets new counters (new series: a reset to Prometheus); a vCPU not among `threads`
  // is closed and its series end. A vCPU the budget has no room for is left out, and retried
  // at the next call. Returns the vCPUs left out.
  std::vector<std::uint32_t> follow_threads(const std::vector<VcpuThread>& threads);

  // Reads every vCPU's counters into its totals. /proc is not asked whether the threads still
  // exist (at a scrape of many domains that would cost more than the reads): a thread that
  // exited keeps its final counts until follow_threads() is told it is gone.
  void read();

  void set_identity(DomainIdentity identity);
  const DomainTotals& totals() const { return totals_; }
  std::size_t counted_vcpus() const { return counted_.size(); }

 private:
  struct Counted {
    pid_t tid = 0;
    Measurement measurement;
    CounterBudget::Share share;
  };

  std::vector<CounterColumn> plan_;
  std::shared_ptr<CounterBudget> budget_;
  DomainTotals totals_;
  std::map<std::uint32_t, Counted> counted_;  // by vCPU, the same keys as totals_.vcpus
};

}  // namespace perfkvm::host
