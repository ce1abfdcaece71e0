#include "report/line_writer.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

#include "report/number_format.hpp"
#include "util/printable.hpp"

namespace perfkvm::report {
namespace {

// Field widths of perf 6.1's stat-display.c.
constexpr std::size_t kCountsWidth = 18;
constexpr std::size_t kUnitWidth = 4;  // strlen("msec"), the longest unit
constexpr std::size_t kEventWidth = 32;
constexpr std::size_t kUncountedEventWidth = 25;  // perf pads names less on <not counted> lines
constexpr std::size_t kMetricWidth = 35;
constexpr std::size_t kIntervalWidth = 16;  // "%6lu.%09lu"
constexpr std::size_t kVcpuNumberWidth = 6;  // "vCPU%-6u ": perf's 11-column "CPU%-7d "

std::string display_name(std::string_view event, protocol::Scope scope) {
  std::string name(event);
  if (scope == protocol::Scope::guest) name += ":G";
  if (scope == protocol::Scope::host) name += ":H";
  return name;
}

std::string json_string(std::string_view text) {
  return boost::json::serialize(boost::json::string(text));
}

// The share of time the counter ran, as CSV and JSON print it: perf computes 100 * run / ena
// in integer arithmetic, so 62.5% prints as 62.00.
std::string running_percent(const CounterLine& line) {
  if (line.time_running == line.time_enabled || line.time_enabled == 0) return "100.00";
  return fixed(static_cast<double>(integer_percent(line.time_running, line.time_enabled)), 2);
}

// perf prints "%.2f" when the event's scale is fractional (the msec clocks), else "%.0f".
int value_precision(const CounterLine& line) { return display_scale(line.event) == 1.0 ? 0 : 2; }

// perf's print_metric_std: " # VALUE UNIT" in METRIC_LEN columns, or blanks.
void write_human_metric(const NumericLocale& numeric, const Metric& metric, std::string& out) {
  if (metric.kind != Metric::Kind::value) {
    out += std::string(kMetricWidth, ' ');
    return;
  }
  const MetricFormat& format = metric.format;
  const std::string shown =
      " # " +
      pad_left(localized(fixed(metric.value, format.precision), numeric, false),
               static_cast<std::size_t>(format.width)) +
      std::string(format.suffix);
  const std::size_t unit_width = shown.size() + 1 < kMetricWidth ? kMetricWidth - shown.size() - 1 : 0;
  out += shown + ' ' + pad_right(metric.unit, unit_width);
}

// What starts a line of this counter: the interval time, the vCPU label.
std::string human_prefix(const CounterLine& line) {
  std::string prefix;
  if (line.interval_ns) prefix += pad_left(seconds_text(*line.interval_ns), kIntervalWidth) + ' ';
  if (line.vcpu) prefix += "vCPU" + pad_right(std::to_string(line.vcpu->index), kVcpuNumberWidth) + ' ';
  return prefix;
}

// perf's do_new_line_std: the prefix, 8 more blanks per CPU row, then 49 up to the metric.
constexpr std::size_t kNewLineIndent = 49;
constexpr std::size_t kNewLineVcpuIndent = 8;

void write_human(const FormatOptions& options, const CounterLine& line, std::string& out) {
  const NumericLocale& numeric = options.numeric;
  out += human_prefix(line);
  const std::string name = printable(display_name(line.event, line.scope));
  const std::string unit = pad_right(display_unit(line.event), kUnitWidth);
  if (line.counted) {
    out += pad_left(localized(fixed(line.value, value_precision(line)), numeric, options.big_num),
                    kCountsWidth);
    out += ' ' + unit + ' ' + pad_right(name, kEventWidth);
    write_human_metric(numeric, line.metric, out);
    if (line.second_metric) {
      out += '\n' + human_prefix(line) +
             std::string(kNewLineIndent + (line.vcpu ? kNewLineVcpuIndent : 0), ' ');
      write_human_metric(numeric, *line.second_metric, out);
    }
  } else {
    out += pad_left(line.not_counted_text, kCountsWidth) + ' ' + unit + ' ' +
           pad_right(name, kUncountedEventWidth) + std::string(kMetricWidth, ' ');
  }
  // perf prints the noise only where it is not 0, then the share of time the counter ran.
  if (line.noise_pct && *line.noise_pct != 0) {
    out += "  ( +-" + pad_left(localized(fixed(*line.noise_pct, 2), numeric, false), 6) + "% )";
  }
  if (line.time_running != line.time_enabled && line.time_enabled != 0) {
    const double percent = 100.0 * static_cast<double>(line.time_running) /
                           static_cast<double>(line.time_enabled);
    out += "  (" + localized(fixed(percent, 2), numeric, false) + "%)";
  }
  if (line.vcpu && line.vcpu->status == protocol::VcpuStatus::ended) out += "  (ended)";
  out += '\n';
}

void write_csv_metric(const std::string& sep, const Metric& metric, std::string& out) {
  if (metric.kind == Metric::Kind::value) {
    out += sep + fixed(metric.value, metric.format.precision) + sep + metric.unit;
  } else {
    out += sep + sep;
  }
}

// The fields every line of the report ends with: its phase, the spans not counted.
void write_csv_tail(const FormatOptions& options, std::string& out) {
  const std::string& sep = options.separator;
  if (!options.phase.empty()) out += sep + printable(options.phase);
  if (options.not_counted.empty()) return;
  out += sep;
  for (std::size_t i = 0; i < options.not_counted.size(); ++i) {
    const auto& span = options.not_counted[i];
    out += (i ? "/" : "") + seconds_text(span.from_ns) + "-" + seconds_text(span.to_ns);
  }
}

void write_json_tail(const FormatOptions& options, std::string& out) {
  if (!options.phase.empty()) out += ", \"phase\" : " + json_string(options.phase);
  if (options.not_counted.empty()) return;
  out += ", \"not-counted\" : [";
  for (std::size_t i = 0; i < options.not_counted.size(); ++i) {
    const auto& span = options.not_counted[i];
    out += std::string(i ? ", " : "") + "[" + seconds_text(span.from_ns) + ", " +
           seconds_text(span.to_ns) + "]";
  }
  out += "]";
}

void write_csv(const FormatOptions& options, const CounterLine& line, std::string& out) {
  const std::string& sep = options.separator;
  if (line.interval_ns) out += pad_left(seconds_text(*line.interval_ns), kIntervalWidth) + sep;
  if (line.vcpu) out += "vCPU" + std::to_string(line.vcpu->index) + sep;
  out += line.counted ? fixed(line.value, value_precision(line))
                      : std::string(line.not_counted_text);
  out += sep + std::string(display_unit(line.event)) + sep +
         printable(display_name(line.event, line.scope));
  if (line.noise_pct) out += sep + fixed(*line.noise_pct, 2) + "%";
  out += sep + std::to_string(line.time_running) + sep + running_percent(line);
  write_csv_metric(sep, line.metric, out);
  write_csv_tail(options, out);
  out += '\n';
  if (line.second_metric) {
    // perf's new_line_csv: the prefix, then one empty field per leading field of a line (3, and
    // one more per CPU row), then the metric's two fields.
    if (line.interval_ns) out += pad_left(seconds_text(*line.interval_ns), kIntervalWidth) + sep;
    if (line.vcpu) out += "vCPU" + std::to_string(line.vcpu->index) + sep;
    for (int field = 0; field < (line.vcpu ? 4 : 3); ++field) out += sep;
    write_csv_metric(sep, *line.second_metric, out);
    write_csv_tail(options, out);
    out += '\n';
  }
}

// "{", the interval and the vCPU: what starts each object of this counter.
std::string json_prefix(const CounterLine& line) {
  std::string prefix =
      line.interval_ns ? "{\"interval\" : " + seconds_text(*line.interval_ns) + ", " : "{";
  if (line.vcpu) {
    prefix += "\"vcpu\" : \"" + std::to_string(line.vcpu->index) + "\", \"vcpu-status\" : " +
              json_string(protocol::to_string(line.vcpu->status)) + ", ";
  }
  return prefix;
}

void write_json(const FormatOptions& options, const CounterLine& line, std::string& out) {
  out += json_prefix(line);
  out += "\"counter-value\" : " +
         (line.counted ? '"' + fixed(line.value, 6) + '"' : json_string(line.not_counted_text));
  out += ", \"unit\" : " + json_string(display_unit(line.event));
  out += ", \"event\" : " + json_string(display_name(line.event, line.scope));
  if (line.noise_pct) out += ", \"variance\" : " + fixed(*line.noise_pct, 2);
  out += ", \"event-runtime\" : " + std::to_string(line.time_running);
  out += ", \"pcnt-running\" : " + running_percent(line);
  const bool has_value = line.metric.kind == Metric::Kind::value;
  out += ", \"metric-value\" : " + fixed(has_value ? line.metric.value : 0.0, 6);
  out += ", \"metric-unit\" : " + json_string(line.metric.unit);
  write_json_tail(options, out);
  out += "}\n";
  if (line.second_metric) {
    // perf's new_line_json: an object with the prefix and the metric alone.
    out += json_prefix(line) + "\"metric-value\" : " + fixed(line.second_metric->value, 6) +
           ", \"metric-unit\" : " + json_string(line.second_metric->unit);
    write_json_tail(options, out);
    out += "}\n";
  }
}

}  // namespace

void write_counter_line(const FormatOptions& options, const CounterLine& line, std::string& out) {
  switch (options.format) {
    case OutputFormat::human: write_human(options, line, out); break;
    case OutputFormat::csv: write_csv(options, line, out); break;
    case OutputFormat::json: write_json(options, line, out); break;
  }
}

std::string interval_header(bool per_vcpu) {
  // Each title ends where its field ends on the counter lines below it.
  std::string header = pad_right("#" + pad_left("time", kIntervalWidth - 1), kIntervalWidth + 1);
  if (per_vcpu) header += pad_right("vCPU", 4 + kVcpuNumberWidth + 1);
  return header + pad_left("counts", kCountsWidth) + ' ' + pad_left("unit", kUnitWidth) +
         " events\n";
}

}  // namespace perfkvm::report
