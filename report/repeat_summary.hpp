// `-r N`: the reports of N runs of the same request summarised as `perf stat -r N` does (perf
// 6.1, util/stat.c and stat-display.c): each count is the mean over the runs, and its noise is
// the standard error of that mean relative to it, in percent ("( +-  1.70% )"); the elapsed
// time is the mean with its standard error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "protocol/messages.hpp"

namespace perfkvm::report {

// perf's running statistics: Welford's mean and variance over the values added.
class RunningStats {
 public:
  void add(double value);
  std::size_t count() const { return count_; }
  double mean() const { return mean_; }
  // The standard error of the mean: sqrt(variance / n), with the sample variance (n - 1); 0
  // for fewer than two values.
  double standard_error() const;

 private:
  std::size_t count_ = 0;
  double mean_ = 0;
  double m2_ = 0;
};

// 100 * error / mean, 0 when the mean is 0 (perf's rel_stddev_stats).
double relative_error_pct(double error, double mean);

struct RepeatedReport {
  // The mean run: the first run's columns (every run counted the same request) and vCPU rows;
  // each cell's value, time_enabled and time_running the means over the runs, a run without
  // a reading for the cell adding zeros as it does in perf (a cell no run read stays empty).
  // duration_ns is the mean elapsed time; samples_dropped the sum; reason the first run's that
  // did not end by stop.
  protocol::Report mean;
  std::size_t runs = 0;
  std::vector<double> noise_pct;                    // by column of mean.totals
  std::vector<std::vector<double>> vcpu_noise_pct;  // by row of mean.vcpus, then column
  double elapsed_error_ns = 0;                      // standard error of the elapsed times
};

// `runs` must not be empty (std::invalid_argument). vCPU rows are matched by vCPU index: a
// row the first run has and a later run lacks gets zeros for that run.
RepeatedReport summarise_runs(const std::vector<protocol::Report>& runs);

}  // namespace perfkvm::report
