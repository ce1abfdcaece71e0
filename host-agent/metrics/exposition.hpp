// Rendering metric families in Prometheus' text format 0.0.4 or OpenMetrics 1.0.0. Pure: no
// I/O; the caller serves the text with content_type(format).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "host-agent/metrics/exposition_format.hpp"

namespace perfkvm::host::metrics {

enum class FamilyType { counter, gauge, info };

std::string_view to_string(FamilyType type);

struct Label {
  std::string name;
  std::string value;  // any UTF-8; escaped when rendered
};

struct MetricSample {
  std::vector<Label> labels;  // rendered in this order
  double value = 0;           // an info sample always renders as 1, whatever this holds
  // The labels already rendered by render_labels(), used instead of `labels` when not empty:
  // a scrape of thousands of series that never change their labels renders them once, not at
  // every scrape. Must stay valid until render() returns.
  std::string_view rendered_labels = {};
};

// One family as OpenMetrics models it. The text format derives its names from it.
struct Family {
  // Without the suffix its samples take: a counter's samples are name_total and an info's
  // name_info. With a unit, the name ends in _<unit> (perfkvm_vcpu_task_clock_seconds).
  std::string name;
  FamilyType type = FamilyType::gauge;
  std::string unit;  // OpenMetrics' # UNIT, or empty; an info family has none
  std::string help;  // empty: no # HELP line
  // Each with a label set of its own, which render does not check: two samples with the same
  // labels make the whole exposition invalid.
  std::vector<MetricSample> samples;
};

// Appends the exposition of `families`, in their order, to `out`.
//
// Text 0.0.4: "# HELP <sample name> <help>" (help escapes \ and newline), "# TYPE <sample name>
// counter|gauge", then the samples; an info family is a gauge named name_info; no # UNIT, no
// # EOF. OpenMetrics: "# TYPE name counter|gauge|info", "# UNIT name unit" when set, "# HELP name
// help" (escapes \, newline and "), the samples, and "# EOF" after the last family.
//
// A family with no samples renders its metadata alone, as both formats allow: a scraper still
// learns its type and help (e.g. no domain running yet). Values: append_sample_value.
//
// Throws std::invalid_argument, naming the family, for what would make the exposition invalid:
// a name or label name the formats reject, a unit that is not the name's suffix or is set on an
// info family, a counter name ending in _total or an info's in _info (the suffix would double),
// a label name twice in one sample, two families of one name.
void render(const std::vector<Family>& families, Format format, std::string& out);

// `labels` as a sample's label set is written in both formats, `{a="x",b="y"}` (empty for no
// labels), for MetricSample::rendered_labels. Throws std::invalid_argument for an invalid or
// repeated label name, as render() does.
std::string render_labels(const std::vector<Label>& labels);

// A label value as both formats quote it: backslash -> \\, double quote -> \", newline -> \n;
// everything else, UTF-8 included, passes unchanged.
std::string escape_label_value(std::string_view value);

}  // namespace perfkvm::host::metrics
