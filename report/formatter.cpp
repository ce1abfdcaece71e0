#include "report/formatter.hpp"

#include <cmath>
#include <optional>

#include "report/interval_delta.hpp"
#include "report/line_writer.hpp"
#include "report/metrics.hpp"
#include "report/number_format.hpp"
#include "report/repeat_summary.hpp"
#include "util/printable.hpp"

namespace perfkvm::report {
namespace {

// The readings one set of lines is printed from: the totals, or one vCPU's row.
struct Group {
  std::optional<VcpuLabel> vcpu;
  std::vector<protocol::Cell> cells;  // by column index; may be shorter than the columns
  std::vector<double> noise_pct;      // -r N: by column index; empty otherwise
};

const protocol::Cell* cell_at(const Group& group, std::size_t column) {
  return column < group.cells.size() ? &group.cells[column] : nullptr;
}

// perf's test for a usable reading: run == 0 || ena == 0 means <not counted>.
bool ran(const protocol::Column& column, const protocol::Cell* cell) {
  return column.status == protocol::ColumnStatus::counted && cell != nullptr && cell->has_value() &&
         (*cell)->time_running != 0 && (*cell)->time_enabled != 0;
}

ShadowStats shadow_stats(const std::vector<protocol::Column>& columns, const Group& group) {
  ShadowStats stats;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    const protocol::Cell* cell = cell_at(group, i);
    if (ran(columns[i], cell)) stats.record(columns[i], (*cell)->value);
  }
  return stats;
}

// All lines of one output block, event-major like perf -A: each column, then each group.
void write_block(const std::vector<protocol::Column>& columns, const std::vector<Group>& groups,
                 std::uint64_t wall_ns, std::optional<std::uint64_t> interval_ns,
                 const FormatOptions& options, std::string& out) {
  std::vector<ShadowStats> stats;
  stats.reserve(groups.size());
  for (const Group& group : groups) stats.push_back(shadow_stats(columns, group));

  for (std::size_t i = 0; i < columns.size(); ++i) {
    const protocol::Column& column = columns[i];
    for (std::size_t g = 0; g < groups.size(); ++g) {
      const protocol::Cell* cell = cell_at(groups[g], i);
      CounterLine line;
      line.interval_ns = interval_ns;
      line.vcpu = groups[g].vcpu;
      line.event = column.event;
      line.scope = column.scope;
      line.not_counted_text = column.status == protocol::ColumnStatus::not_supported
                                  ? "<not supported>"
                                  : "<not counted>";
      if (cell != nullptr && cell->has_value()) {
        line.time_enabled = (*cell)->time_enabled;
        line.time_running = (*cell)->time_running;
      }
      if (i < groups[g].noise_pct.size()) line.noise_pct = groups[g].noise_pct[i];
      line.counted = ran(column, cell);
      if (line.counted) {
        line.value = static_cast<double>((*cell)->value) * display_scale(column.event);
        line.metric = derive_metric(column, line.value, stats[g], wall_ns);
        line.second_metric = derive_second_metric(column, line.value, stats[g]);
      }
      write_counter_line(options, line, out);
    }
  }
}

std::vector<Group> report_groups(const protocol::Report& report, bool per_vcpu) {
  std::vector<Group> groups;
  if (per_vcpu && !report.vcpus.empty()) {
    for (const auto& row : report.vcpus) {
      groups.push_back(Group{VcpuLabel{row.vcpu, row.status}, row.counts, {}});
    }
  } else {
    groups.push_back(Group{std::nullopt, report.totals, {}});
  }
  return groups;
}

std::vector<protocol::Cell> cell_deltas(const std::vector<protocol::Cell>& current,
                                        const std::vector<protocol::Cell>* previous) {
  std::vector<protocol::Cell> deltas;
  deltas.reserve(current.size());
  for (std::size_t i = 0; i < current.size(); ++i) {
    const bool has_previous = previous != nullptr && i < previous->size();
    deltas.push_back(interval_delta(current[i], has_previous ? (*previous)[i] : std::nullopt));
  }
  return deltas;
}

const protocol::VcpuCounts* find_vcpu(const protocol::Sample* sample, std::uint32_t vcpu) {
  if (sample == nullptr) return nullptr;
  for (const auto& row : sample->vcpus) {
    if (row.vcpu == vcpu) return &row;
  }
  return nullptr;
}

std::vector<Group> interval_groups(const protocol::Sample& current,
                                   const protocol::Sample* previous, bool per_vcpu) {
  std::vector<Group> groups;
  if (per_vcpu && !current.vcpus.empty()) {
    for (const auto& row : current.vcpus) {
      const protocol::VcpuCounts* before = find_vcpu(previous, row.vcpu);
      groups.push_back(Group{VcpuLabel{row.vcpu, row.status},
                             cell_deltas(row.counts, before ? &before->counts : nullptr), {}});
    }
  } else {
    groups.push_back(Group{std::nullopt,
                           cell_deltas(current.totals, previous ? &previous->totals : nullptr), {}});
  }
  return groups;
}

std::string header_target(const FormatOptions& options, std::size_t runs) {
  std::string target;
  if (options.command.empty() && options.target_label.empty()) {
    target = "all vCPUs";
  } else if (options.target_label.empty()) {
    target = "'" + options.command + "'";
  } else if (options.command.empty()) {
    target = options.target_label;
  } else {
    target = "'" + options.command + "' on " + options.target_label;
  }
  if (!options.phase.empty()) target += ", phase '" + printable(options.phase) + "'";
  if (runs > 1) target += " (" + std::to_string(runs) + " runs)";
  return target;
}

std::string notes(const protocol::Report& report) {
  std::string text;
  switch (report.reason) {
    case protocol::EndReason::stopped: break;
    case protocol::EndReason::domain_stopped:
      text += "# counting ended early: the domain stopped or its vCPU threads exited\n";
      break;
    case protocol::EndReason::error:
      text += "# counting ended early: the host could not read the counters\n";
      break;
  }
  if (report.samples_dropped == 1) {
    text += "# 1 interval sample was dropped\n";
  } else if (report.samples_dropped > 1) {
    text += "# " + std::to_string(report.samples_dropped) + " interval samples were dropped\n";
  }
  return text;
}

}  // namespace

std::string format_interval(const std::vector<protocol::Column>& columns,
                            const protocol::Sample& current, const protocol::Sample* previous,
                            const FormatOptions& options, bool print_header) {
  const std::vector<Group> groups = interval_groups(current, previous, options.per_vcpu);
  std::string out;
  if (options.format == OutputFormat::human && print_header) {
    out += interval_header(groups.front().vcpu.has_value());
  }
  const std::uint64_t start = previous != nullptr ? previous->elapsed_ns : 0;
  const std::uint64_t wall_ns = current.elapsed_ns > start ? current.elapsed_ns - start : 0;
  write_block(columns, groups, wall_ns, current.elapsed_ns, options, out);
  return out;
}

bool interval_header_due(std::size_t blocks_printed) {
  constexpr std::size_t kBlocksPerHeader = 25;
  return blocks_printed % kBlocksPerHeader == 0;
}

namespace {

// perf's " %17.9f seconds time elapsed"; over several runs the mean with its standard error,
// at two digits more than the error's first significant one, and the relative error.
std::string elapsed_line(std::uint64_t mean_ns, std::size_t runs, double error_ns,
                         const NumericLocale& numeric) {
  const auto number = [&numeric](double value, int precision) {
    return localized(fixed(value, precision), numeric, false);
  };
  const double seconds = static_cast<double>(mean_ns) / 1e9;
  if (runs <= 1) return "\n " + pad_left(number(seconds, 9), 17) + " seconds time elapsed\n\n";
  const double error = error_ns / 1e9;
  // perf's get_precision: lround(ceil(-log10(error))), 0 above 1; for an error of 0 that is
  // lround(inf), which is 0 on x86-64 (and then the 2 more digits).
  int digits = 0;
  if (error > 0 && error <= 1) digits = static_cast<int>(std::lround(std::ceil(-std::log10(error))));
  const int precision = digits + 2;
  std::string line = "\n " + pad_left(number(seconds, precision), 17) + " +- " +
                     number(error, precision) + " seconds time elapsed";
  const double pct = relative_error_pct(error, seconds);
  if (pct != 0) line += "  ( +-" + pad_left(number(pct, 2), 6) + "% )";
  return line + "\n\n";
}

std::string format_block(const protocol::Report& report, std::vector<Group> groups,
                         std::size_t runs, double elapsed_error_ns, const FormatOptions& options) {
  std::string out;
  const bool human = options.format == OutputFormat::human;
  if (human) out += "\n Performance counter stats for " + header_target(options, runs) + ":\n\n";
  write_block(report.columns, groups, report.duration_ns, std::nullopt, options, out);
  if (human) {
    out += elapsed_line(report.duration_ns, runs, elapsed_error_ns, options.numeric);
    out += notes(report);
    for (const auto& note : options.notes) out += "# " + note + "\n";
  }
  return out;
}

}  // namespace

std::string format_report(const protocol::Report& report, const FormatOptions& options) {
  return format_block(report, report_groups(report, options.per_vcpu), 1, 0, options);
}

std::string format_repeated_report(const RepeatedReport& summary, const FormatOptions& options) {
  std::vector<Group> groups = report_groups(summary.mean, options.per_vcpu);
  if (groups.size() == 1 && !groups.front().vcpu) {
    groups.front().noise_pct = summary.noise_pct;
  } else {
    for (std::size_t row = 0; row < groups.size() && row < summary.vcpu_noise_pct.size(); ++row) {
      groups[row].noise_pct = summary.vcpu_noise_pct[row];
    }
  }
  return format_block(summary.mean, std::move(groups), summary.runs, summary.elapsed_error_ns,
                      options);
}

}  // namespace perfkvm::report
