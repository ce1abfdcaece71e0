#include "report/repeat_summary.hpp"

#include <cmath>
#include <stdexcept>

namespace perfkvm::report {

void RunningStats::add(double value) {
  ++count_;
  const double delta = value - mean_;
  mean_ += delta / static_cast<double>(count_);
  m2_ += delta * (value - mean_);
}

double RunningStats::standard_error() const {
  if (count_ < 2) return 0;
  const double variance = m2_ / static_cast<double>(count_ - 1);
  return std::sqrt(variance / static_cast<double>(count_));
}

double relative_error_pct(double error, double mean) {
  return mean != 0 ? 100.0 * error / mean : 0.0;
}

namespace {

// One cell over the runs: the statistics of its value, time_enabled and time_running.
struct CellStats {
  RunningStats value, enabled, running;
  bool any = false;

  void add(const protocol::Cell* cell) {
    const bool has = cell != nullptr && cell->has_value();
    any = any || has;
    value.add(has ? static_cast<double>((*cell)->value) : 0.0);
    enabled.add(has ? static_cast<double>((*cell)->time_enabled) : 0.0);
    running.add(has ? static_cast<double>((*cell)->time_running) : 0.0);
  }
  protocol::Cell mean() const {
    if (!any) return std::nullopt;
    const auto rounded = [](double x) { return static_cast<std::uint64_t>(std::llround(x)); };
    return protocol::Count{rounded(value.mean()), rounded(enabled.mean()),
                           rounded(running.mean())};
  }
  double noise_pct() const { return relative_error_pct(value.standard_error(), value.mean()); }
};

const protocol::Cell* cell_at(const std::vector<protocol::Cell>& cells, std::size_t i) {
  return i < cells.size() ? &cells[i] : nullptr;
}

const protocol::VcpuCounts* row_of(const protocol::Report& report, std::uint32_t vcpu) {
  for (const auto& row : report.vcpus) {
    if (row.vcpu == vcpu) return &row;
  }
  return nullptr;
}

// The mean cells and their noise for one line of cells, given each run's version of it.
template <class CellsOfRun>
void summarise_cells(const std::vector<protocol::Report>& runs, std::size_t columns,
                     CellsOfRun cells_of_run, std::vector<protocol::Cell>& mean,
                     std::vector<double>& noise) {
  for (std::size_t i = 0; i < columns; ++i) {
    CellStats stats;
    for (const auto& run : runs) {
      const std::vector<protocol::Cell>* cells = cells_of_run(run);
      stats.add(cells ? cell_at(*cells, i) : nullptr);
    }
    mean.push_back(stats.mean());
    noise.push_back(stats.noise_pct());
  }
}

}  // namespace

RepeatedReport summarise_runs(const std::vector<protocol::Report>& runs) {
  if (runs.empty()) throw std::invalid_argument("summarise_runs: no runs");
  const protocol::Report& first = runs.front();
  RepeatedReport summary;
  summary.runs = runs.size();
  summary.mean.nonce = first.nonce;
  summary.mean.request_id = runs.back().request_id;
  summary.mean.columns = first.columns;
  RunningStats elapsed;
  for (const auto& run : runs) {
    elapsed.add(static_cast<double>(run.duration_ns));
    summary.mean.samples_sent += run.samples_sent;
    summary.mean.samples_dropped += run.samples_dropped;
    if (summary.mean.reason == protocol::EndReason::stopped) summary.mean.reason = run.reason;
  }
  summary.mean.duration_ns = static_cast<std::uint64_t>(std::llround(elapsed.mean()));
  summary.elapsed_error_ns = elapsed.standard_error();

  const std::size_t columns = first.columns.size();
  summarise_cells(
      runs, columns, [](const protocol::Report& run) { return &run.totals; }, summary.mean.totals,
      summary.noise_pct);
  for (const auto& first_row : first.vcpus) {
    // The status the vCPU had at the end of the last run.
    protocol::VcpuCounts row{first_row.vcpu, first_row.status, {}};
    if (const auto* last = row_of(runs.back(), first_row.vcpu)) row.status = last->status;
    auto& noise = summary.vcpu_noise_pct.emplace_back();
    summarise_cells(
        runs, columns,
        [&](const protocol::Report& run) -> const std::vector<protocol::Cell>* {
          const auto* found = row_of(run, first_row.vcpu);
          return found ? &found->counts : nullptr;
        },
        row.counts, noise);
    summary.mean.vcpus.push_back(std::move(row));
  }
  return summary;
}

}  // namespace perfkvm::report
