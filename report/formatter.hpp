// Protocol readings (started columns, samples, report) -> text exactly like `perf stat`.
//
// Shared by the guest agent `perfkvm` and the host CLI `perfkvm-host stat`. The reference is
// perf 6.1 (Debian 12's linux-perf, tools/perf/util/stat-display.c and stat-shadow.c): the
// human layout, `-I` interval lines, `-x SEP` CSV, `-j` JSON (one object per line) and `-A`
// per-CPU rows (here per vCPU), with perf's widths, metrics and quirks. Where perfkvm differs,
// on purpose:
//  - Numbers in human output follow FormatOptions::numeric, the LC_NUMERIC conventions the CLI
//    read from the environment (numeric_locale.hpp), as perf's follow printf's after
//    setlocale(LC_ALL, ""); CSV and JSON always use the C locale's '.' and no grouping, where
//    perf's would take a comma decimal point from, e.g., de_DE (and clash with -x , or JSON).
//  - Per-vCPU rows are labelled "vCPU0" where perf says "CPU0" (same 11-column field in human
//    output); JSON uses the key "vcpu" (perf: "cpu") plus "vcpu-status": "running"|"ended".
//    A vCPU whose thread ended (its counts are final) gets "  (ended)" at the end of its human
//    lines; CSV keeps perf's fields and does not mark it.
//  - Scoped columns are named with perf's modifiers: cpu-cycles:G (guest, exclude_host),
//    cpu-cycles:H (host, exclude_guest); scope "all" has no modifier.
//  - An interval's "CPUs utilized" divides by the time the interval really covers (difference
//    of elapsed_ns), where perf divides by the nominal -I period; with dropped samples an
//    interval spans several periods.
//  - JSON lines without any metric carry "metric-value" : 0.000000, "metric-unit" : "" where
//    perf 6.1 prints the unit as "(null)".
//  - Human report output ends with "# ..." note lines when samples were dropped or counting
//    ended early (domain stopped, host error); perf has no such events.
//  - Event names from the wire are printed with control characters replaced by '?' (human,
//    CSV) or JSON-escaped (JSON).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "protocol/messages.hpp"
#include "report/number_format.hpp"

namespace perfkvm::report {

enum class OutputFormat { human, csv, json };

struct FormatOptions {
  OutputFormat format = OutputFormat::human;
  std::string separator = ",";  // -x SEP, for csv
  // Human output: numbers as printf prints them in this LC_NUMERIC (default: the C locale's).
  NumericLocale numeric;
  // -B / --big-num (perf's default) and --no-big-num: the counts' integer digits grouped as
  // `numeric` says (no separator in C / POSIX, ',' in en_US); only the counts, as perf's %'.
  bool big_num = true;
  // -A: one line per vCPU and event (event-major, like perf), from the message's vCPU rows.
  // Without vCPU rows in the message the totals are printed instead.
  bool per_vcpu = false;
  // Header of the human report: " Performance counter stats for 'CMD' on TARGET:" with either
  // part optional (neither: "for all vCPUs"). TARGET is free text, e.g. "VM 'web1' (2 vCPUs)".
  std::string command;
  std::string target_label;
  // The phase the lines belong to (perfkvm ctl mark), empty when the run has no phases: the
  // human report's header names it, CSV lines end with it as one more field and JSON lines
  // carry it as "phase" (perf has no phases).
  std::string phase;
  // Human report only: "# ..." lines after perf's, e.g. why the counts end early.
  std::vector<std::string> notes;
  // Spans of the run not counted (a session with the host lost, a new one counting on), in
  // the run's time: the human report has notes for them; CSV lines end with one more field,
  // "FROM-TO" in seconds ('/' between spans), and JSON lines carry "not-counted" : [[FROM, TO]].
  struct Span {
    std::uint64_t from_ns = 0;
    std::uint64_t to_ns = 0;
  };
  std::vector<Span> not_counted;
};

// One interval block of `perf stat -I`: each line shows the difference between `current` and
// `previous` (nullptr for the first sample: the difference from zero), prefixed by
// current.elapsed_ns in seconds. `print_header` adds perf's "#  time  counts unit events" line
// in human mode (when: interval_header_due); CSV and JSON have no header. Cells beyond a
// sample's row length count as missing.
std::string format_interval(const std::vector<protocol::Column>& columns,
                            const protocol::Sample& current, const protocol::Sample* previous,
                            const FormatOptions& options, bool print_header);

// Whether the interval block after `blocks_printed` blocks gets the column header: perf stat -I
// prints it before the first block and again before every 25th block after it, so that the
// columns stay labelled on a terminal. For every printer of interval blocks (perfkvm -I,
// perfkvm-host stat -I).
bool interval_header_due(std::size_t blocks_printed);

// perf stat's end-of-run output for the whole request: in human mode the header, one line per
// column (or per column and vCPU), "N.NNNNNNNNN seconds time elapsed" from duration_ns and any
// notes; in CSV and JSON mode only the lines.
std::string format_report(const protocol::Report& report, const FormatOptions& options);

struct RepeatedReport;  // repeat_summary.hpp

// The same for the mean of N runs (-r N), as perf stat -r prints it: "(N runs)" in the header,
// each line's noise after its metric ("  ( +-  1.70% )", only where it is not 0), in CSV a
// "1.70%" field after the event name and in JSON "variance" : 1.70 before "event-runtime"; and
// "MEAN +- ERROR seconds time elapsed  ( +- PCT% )". Per-vCPU lines (-A) carry each vCPU's own
// noise, where perf's per-CPU lines show the last run with a noise of 0.
std::string format_repeated_report(const RepeatedReport& summary, const FormatOptions& options);

}  // namespace perfkvm::report
