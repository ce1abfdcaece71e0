#include "guest-agent/region_of_interest.hpp"

#include <algorithm>

#include "report/interval_delta.hpp"

namespace perfkvm::guest {

namespace {

// Adds the counts between two readings of the same cells to `sum`, cell by cell.
void add_cells(std::vector<protocol::Cell>& sum, const std::vector<protocol::Cell>& to,
               const std::vector<protocol::Cell>* from) {
  if (sum.size() < to.size()) sum.resize(to.size());
  for (std::size_t i = 0; i < to.size(); ++i) {
    const bool has_from = from != nullptr && i < from->size();
    sum[i] = report::combined(sum[i], report::interval_delta(to[i], has_from ? (*from)[i]
                                                                              : std::nullopt));
  }
}

const protocol::VcpuCounts* find_row(const std::vector<protocol::VcpuCounts>& rows,
                                     std::uint32_t vcpu) {
  const auto found = std::find_if(rows.begin(), rows.end(),
                                  [vcpu](const auto& row) { return row.vcpu == vcpu; });
  return found == rows.end() ? nullptr : &*found;
}

}  // namespace

RegionOfInterest::RegionOfInterest(bool counting_at_start)
    : counting_at_start_(counting_at_start), counting_(counting_at_start) {}

void RegionOfInterest::apply(ControlAction action, const protocol::Sample& at,
                             const std::string& phase) {
  const Reading reading{at.elapsed_ns, at.totals, at.vcpus};
  close_span(reading);
  controlled_ = true;
  switch (action) {
    case ControlAction::enable: counting_ = true; break;
    case ControlAction::disable: counting_ = false; break;
    case ControlAction::mark:
      phase_ = phase;
      marked_ = true;
      tally_of(phase_);  // listed from its mark on, in mark order, even if it counts nothing
      break;
  }
}

void RegionOfInterest::close_span(const Reading& at) {
  if (counting_) {
    add_span(total_, last_, at);
    // Counts before the first mark are a phase of their own once there are marks.
    add_span(tally_of(phase_.empty() ? std::string(kUnmarkedPhase) : phase_), last_, at);
  }
  last_ = at;
}

RegionOfInterest::Tally& RegionOfInterest::tally_of(const std::string& phase) {
  for (auto& [name, tally] : phases_) {
    if (name == phase) return tally;
  }
  return phases_.emplace_back(phase, Tally{}).second;
}

void RegionOfInterest::add_span(Tally& tally, const Reading& from, const Reading& to) {
  tally.duration_ns += to.elapsed_ns > from.elapsed_ns ? to.elapsed_ns - from.elapsed_ns : 0;
  add_cells(tally.totals, to.totals, &from.totals);
  for (const auto& row : to.vcpus) {
    const protocol::VcpuCounts* before = find_row(from.vcpus, row.vcpu);
    protocol::VcpuCounts* sum = nullptr;
    for (auto& existing : tally.vcpus) {
      if (existing.vcpu == row.vcpu) sum = &existing;
    }
    if (sum == nullptr) sum = &tally.vcpus.emplace_back(protocol::VcpuCounts{row.vcpu, row.status, {}});
    sum->status = row.status;
    add_cells(sum->counts, row.counts, before ? &before->counts : nullptr);
  }
}

protocol::Report RegionOfInterest::report_of(const Tally& tally, const protocol::Report& like) {
  protocol::Report report = like;
  report.duration_ns = tally.duration_ns;
  report.totals = tally.totals;
  // A span that counted nothing still has a cell per column: not counted, as perf prints a
  // counter that never ran.
  report.totals.resize(like.totals.size());
  for (std::size_t i = 0; i < report.totals.size(); ++i) {
    if (!report.totals[i] && like.totals[i]) report.totals[i] = protocol::Count{};
  }
  report.vcpus.clear();
  for (const auto& row : like.vcpus) {
    protocol::VcpuCounts counted{row.vcpu, row.status, {}};
    if (const auto* found = find_row(tally.vcpus, row.vcpu)) counted.counts = found->counts;
    counted.counts.resize(row.counts.size());
    for (std::size_t i = 0; i < counted.counts.size(); ++i) {
      if (!counted.counts[i] && row.counts[i]) counted.counts[i] = protocol::Count{};
    }
    report.vcpus.push_back(std::move(counted));
  }
  return report;
}

RegionOfInterest::Result RegionOfInterest::finish(const protocol::Report& report) const {
  RegionOfInterest closed = *this;
  closed.close_span(Reading{report.duration_ns, report.totals, report.vcpus});
  Result result;
  result.run_ns = report.duration_ns;
  result.total = report_of(closed.total_, report);
  if (!closed.has_phases()) return result;
  // The end notes (samples dropped, counting ended early) are the run's: the total has them.
  protocol::Report phase_like = report;
  phase_like.reason = protocol::EndReason::stopped;
  phase_like.samples_dropped = 0;
  for (const auto& [name, tally] : closed.phases_) {
    if (name == kUnmarkedPhase && tally.duration_ns == 0) continue;
    result.phases.push_back(Phase{name, report_of(tally, phase_like)});
  }
  return result;
}

}  // namespace perfkvm::guest
