#include "host-agent/export/domain_counters.hpp"

#include <algorithm>
#include <utility>

#include "host-agent/export/families.hpp"

namespace perfkvm::host {

DomainCounters::DomainCounters(DomainIdentity identity, std::vector<CounterColumn> plan,
                               std::shared_ptr<CounterBudget> budget)
    : plan_(std::move(plan)), budget_(std::move(budget)) {
  totals_.identity = std::move(identity);
  totals_.columns = plan_;
}

std::vector<std::uint32_t> DomainCounters::follow_threads(const std::vector<VcpuThread>& threads) {
  for (auto it = counted_.begin(); it != counted_.end();) {
    const auto vcpu = it->first;
    const bool kept = std::any_of(threads.begin(), threads.end(), [&](const VcpuThread& thread) {
      return thread.vcpu == vcpu && thread.tid == it->second.tid;
    });
    if (kept) {
      ++it;
      continue;
    }
    totals_.vcpus.erase(vcpu);
    it = counted_.erase(it);
  }
  std::vector<std::uint32_t> left_out;
  for (const auto& thread : threads) {
    if (counted_.count(thread.vcpu)) continue;
    // Every column is one fd on the thread, whether the host can count it or not: the budget
    // is charged as admission charges a guest's request (columns x threads).
    auto share = budget_->take(plan_.size());
    if (!share) {
      left_out.push_back(thread.vcpu);
      continue;
    }
    Measurement measurement({thread}, plan_);
    measurement.start();
    VcpuTotals totals;
    for (const auto& column : measurement.columns()) {
      totals.columns.push_back(column.status == protocol::ColumnStatus::counted
                                   ? std::optional(metrics::ScaledTotal{})
                                   : std::nullopt);
    }
    render_vcpu_labels(totals_.identity, thread.vcpu, plan_, totals);
    totals_.vcpus[thread.vcpu] = std::move(totals);
    counted_.emplace(thread.vcpu, Counted{thread.tid, std::move(measurement), std::move(*share)});
  }
  return left_out;
}

void DomainCounters::set_identity(DomainIdentity identity) {
  if (identity == totals_.identity) return;
  totals_.identity = std::move(identity);
  for (auto& [vcpu, totals] : totals_.vcpus) render_vcpu_labels(totals_.identity, vcpu, plan_, totals);
}

void DomainCounters::read() {
  for (auto& [vcpu, counted] : counted_) {
    const MeasurementReading reading = counted.measurement.read(PresenceCheck::never);
    auto& totals = totals_.vcpus[vcpu].columns;
    if (reading.vcpus.empty()) continue;
    const auto& cells = reading.vcpus.front().counts;
    for (std::size_t c = 0; c < cells.size() && c < totals.size(); ++c) {
      if (totals[c] && cells[c]) totals[c]->add(*cells[c]);
    }
  }
}

}  // namespace perfkvm::host
