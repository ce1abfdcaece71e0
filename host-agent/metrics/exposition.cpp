#include "host-agent/metrics/exposition.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>

#include "host-agent/metrics/metric_family.hpp"
#include "host-agent/metrics/sample_value.hpp"

namespace perfkvm::host::metrics {

namespace {

struct TypeInfo {
  FamilyType type;
  std::string_view openmetrics;  // its # TYPE in OpenMetrics
  std::string_view text;         // its # TYPE in text 0.0.4, which has no info type
  std::string_view suffix;       // of its sample names, in both formats
};
constexpr std::array<TypeInfo, 3> kTypes{{
    {FamilyType::counter, "counter", "counter", "_total"},
    {FamilyType::gauge, "gauge", "gauge", ""},
    {FamilyType::info, "info", "gauge", "_info"},
}};

const TypeInfo& info(FamilyType type) {
  return *std::find_if(kTypes.begin(), kTypes.end(),
                       [&](const TypeInfo& t) { return t.type == type; });
}

[[noreturn]] void reject(const Family& family, const std::string& what) {
  throw std::invalid_argument("metrics family '" + family.name + "': " + what);
}

// Why `labels` cannot be rendered, or empty.
std::string label_problem(const std::vector<Label>& labels) {
  for (auto label = labels.begin(); label != labels.end(); ++label) {
    if (!is_valid_label_name(label->name)) return "invalid label name '" + label->name + "'";
    const bool repeated = std::any_of(labels.begin(), label, [&](const Label& other) {
      return other.name == label->name;
    });
    if (repeated) return "label '" + label->name + "' twice in one sample";
  }
  return {};
}

void check_labels(const Family& family, const MetricSample& sample) {
  if (!sample.rendered_labels.empty()) return;  // checked by render_labels()
  if (const auto problem = label_problem(sample.labels); !problem.empty()) reject(family, problem);
}

void check(const Family& family) {
  if (!is_valid_metric_name(family.name)) reject(family, "invalid metric name");
  const TypeInfo& type = info(family.type);
  if (!type.suffix.empty() && family.name.ends_with(type.suffix)) {
    reject(family, "the name must not end in " + std::string(type.suffix) + ", which its " +
                       std::string(type.openmetrics) + " samples add");
  }
  if (!family.unit.empty()) {
    if (family.type == FamilyType::info) reject(family, "an info family has no unit");
    if (!is_valid_metric_name(family.unit) || !family.name.ends_with("_" + family.unit)) {
      reject(family, "unit '" + family.unit + "' is not the name's suffix _" + family.unit);
    }
  }
  for (const MetricSample& sample : family.samples) check_labels(family, sample);
}

// Backslash and newline always; the double quote where the format requires it (label values,
// OpenMetrics' HELP).
void append_escaped(std::string_view text, bool escape_quote, std::string& out) {
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && escape_quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

void append_metadata(std::string_view keyword, std::string_view name, std::string_view value,
                     std::string& out) {
  out += "# ";
  out += keyword;
  out += ' ';
  out += name;
  out += ' ';
  out += value;
  out += '\n';
}

void append_help(std::string_view name, std::string_view help, bool escape_quote,
                 std::string& out) {
  if (help.empty()) return;
  std::string escaped;
  append_escaped(help, escape_quote, escaped);
  append_metadata("HELP", name, escaped, out);
}

void append_labels(const std::vector<Label>& labels, std::string& out) {
  if (labels.empty()) return;
  out += '{';
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) out += ',';
    out += labels[i].name;
    out += "=\"";
    append_escaped(labels[i].value, true, out);
    out += '"';
  }
  out += '}';
}

void append_sample(std::string_view sample_name, const Family& family, const MetricSample& sample,
                   std::string& out) {
  out += sample_name;
  if (sample.rendered_labels.empty()) {
    append_labels(sample.labels, out);
  } else {
    out += sample.rendered_labels;
  }
  out += ' ';
  // An info sample states that its labels hold: its value is 1 by definition.
  append_sample_value(family.type == FamilyType::info ? 1.0 : sample.value, out);
  out += '\n';
}

// Text 0.0.4 names its metadata after the samples (name_total, name_info).
void render_text(const Family& family, std::string& out) {
  const TypeInfo& type = info(family.type);
  const std::string sample_name = family.name + std::string(type.suffix);
  append_help(sample_name, family.help, false, out);
  append_metadata("TYPE", sample_name, type.text, out);
  for (const MetricSample& sample : family.samples) append_sample(sample_name, family, sample, out);
}

void render_openmetrics(const Family& family, std::string& out) {
  const TypeInfo& type = info(family.type);
  const std::string sample_name = family.name + std::string(type.suffix);
  // The order OpenMetrics recommends: TYPE, UNIT, HELP.
  append_metadata("TYPE", family.name, type.openmetrics, out);
  if (!family.unit.empty()) append_metadata("UNIT", family.name, family.unit, out);
  append_help(family.name, family.help, true, out);
  for (const MetricSample& sample : family.samples) append_sample(sample_name, family, sample, out);
}

}  // namespace

std::string_view to_string(FamilyType type) { return info(type).openmetrics; }

void render(const std::vector<Family>& families, Format format, std::string& out) {
  // All checked first, so that a bad family appends nothing rather than half an exposition.
  for (auto family = families.begin(); family != families.end(); ++family) {
    check(*family);
    const bool repeated = std::any_of(families.begin(), family, [&](const Family& other) {
      return other.name == family->name;
    });
    if (repeated) reject(*family, "a second family of that name");
  }
  for (const Family& family : families) {
    if (format == Format::openmetrics) {
      render_openmetrics(family, out);
    } else {
      render_text(family, out);
    }
  }
  if (format == Format::openmetrics) out += "# EOF\n";
}

std::string render_labels(const std::vector<Label>& labels) {
  if (const auto problem = label_problem(labels); !problem.empty()) {
    throw std::invalid_argument("metrics labels: " + problem);
  }
  std::string out;
  append_labels(labels, out);
  return out;
}

std::string escape_label_value(std::string_view value) {
  std::string escaped;
  escaped.reserve(value.size());
  append_escaped(value, true, escaped);
  return escaped;
}

}  // namespace perfkvm::host::metrics
