#include "host-agent/metrics/exposition.hpp"

#include <doctest/doctest.h>

#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "host-agent/metrics/metric_family.hpp"
#include "test_data.hpp"

namespace {

using perfkvm::host::metrics::escape_label_value;
using perfkvm::host::metrics::Family;
using perfkvm::host::metrics::family_for_event;
using perfkvm::host::metrics::FamilyType;
using perfkvm::host::metrics::Format;
using perfkvm::host::metrics::Label;
using perfkvm::host::metrics::render;

// A domain name with everything a label value must escape (a quote, a backslash before an n,
// a newline) and UTF-8, which passes unchanged.
const std::string kOddDomain = "wëb\"01\\n\n";

Family event_family(std::string_view event_name) {
  const auto* event = perfkvm::protocol::find_event(event_name);
  REQUIRE(event != nullptr);
  const auto event_family = family_for_event(*event);
  Family counter;
  counter.name = event_family.name;
  counter.type = FamilyType::counter;
  counter.unit = event_family.unit;
  counter.help = event_family.help;
  return counter;
}

Family make_family(std::string name, FamilyType type, std::string help) {
  Family f;
  f.name = std::move(name);
  f.type = type;
  f.help = std::move(help);
  return f;
}

// The fixed model of tests/data/metrics/families.{prom,om}: a counter with a unit, a counter
// with labels (scope among them), a gauge, an info family, values spelt specially, a sample
// without labels, and a family without samples.
std::vector<Family> golden_model() {
  std::vector<Family> families;

  Family task_clock = event_family("task-clock");
  task_clock.samples = {{{{"domain", "web01"}, {"vcpu", "0"}}, 12.5},
                        {{{"domain", "web01"}, {"vcpu", "1"}}, 0.000000123}};
  families.push_back(std::move(task_clock));

  Family instructions = event_family("instructions");
  instructions.samples = {
      {{{"domain", kOddDomain}, {"vcpu", "0"}, {"scope", "guest"}}, 123456789},
      {{{"domain", kOddDomain}, {"vcpu", "0"}, {"scope", "host"}}, 9007199254740992.0},
      {{{"domain", kOddDomain}, {"vcpu", "1"}, {"scope", "guest"}}, 18446744073709551615.0},
  };
  families.push_back(std::move(instructions));

  Family ratio = make_family("perfkvm_vcpu_running_ratio", FamilyType::gauge,
                        "Share of the last interval's enabled time the counter ran on the PMU "
                        "(below 1: multiplexed)");
  const auto ratio_labels = [](std::string vcpu, std::string scope) {
    return std::vector<Label>{{"domain", "web01"},
                              {"vcpu", std::move(vcpu)},
                              {"event", "instructions"},
                              {"scope", std::move(scope)}};
  };
  ratio.samples = {{ratio_labels("0", "guest"), 0.5},
                   {ratio_labels("0", "host"), 1},
                   {ratio_labels("1", "guest"), 0}};
  families.push_back(std::move(ratio));

  Family domain = make_family("perfkvm_domain", FamilyType::info,
                         "A running libvirt domain perfkvm-hostd counts");
  const auto domain_labels = [](std::string name, std::string uuid, std::string cid) {
    return std::vector<Label>{
        {"domain", std::move(name)}, {"uuid", std::move(uuid)}, {"vsock_cid", std::move(cid)}};
  };
  domain.samples = {
      {domain_labels("web01", "6f1c2b9e-8d3a-4c5e-9f70-1a2b3c4d5e6f", "3"), 1},
      {domain_labels(kOddDomain, "0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a", ""), 1},
  };
  families.push_back(std::move(domain));

  Family special = make_family("perfkvm_test_special_values", FamilyType::gauge,
                          "Values the formats spell specially; a help with a backslash \\, "
                          "\"quotes\" and a newline\nin it");
  special.samples = {{{{"case", "nan"}}, std::numeric_limits<double>::quiet_NaN()},
                     {{{"case", "plus_inf"}}, std::numeric_limits<double>::infinity()},
                     {{{"case", "minus_inf"}}, -std::numeric_limits<double>::infinity()},
                     {{{"case", "negative"}}, -2.5}};
  families.push_back(std::move(special));

  Family reads = make_family("perfkvm_hostd_export_reads", FamilyType::counter,
                        "Reads of every exported counter");
  reads.samples = {{{}, 42}};
  families.push_back(std::move(reads));

  families.push_back(make_family("perfkvm_hostd_domains_running", FamilyType::gauge,
                            "Running libvirt domains perfkvm-hostd follows (no samples here)"));
  return families;
}

std::string rendered(const std::vector<Family>& families, Format format) {
  std::string out;
  render(families, format, out);
  return out;
}

std::string golden(const char* name) {
  return perfkvm::test::read_file(perfkvm::test::data_dir() / "metrics" / name);
}

}  // namespace

TEST_CASE("escape_label_value: backslash, double quote and newline; UTF-8 unchanged") {
  CHECK(escape_label_value("") == "");
  CHECK(escape_label_value("web01") == "web01");
  CHECK(escape_label_value("a\\b") == "a\\\\b");
  CHECK(escape_label_value("say \"hi\"") == "say \\\"hi\\\"");
  CHECK(escape_label_value("two\nlines") == "two\\nlines");
  CHECK(escape_label_value(kOddDomain) == "wëb\\\"01\\\\n\\n");
  CHECK(escape_label_value("tab\tcr\r") == "tab\tcr\r");  // neither format escapes them
  CHECK(escape_label_value("日本語 ✓") == "日本語 ✓");
}

TEST_CASE("render: the golden model in the text format 0.0.4") {
  CHECK(rendered(golden_model(), Format::text) == golden("families.prom"));
}

TEST_CASE("render: the golden model in OpenMetrics 1.0.0") {
  CHECK(rendered(golden_model(), Format::openmetrics) == golden("families.om"));
}

TEST_CASE("render: HELP escapes the double quote in OpenMetrics only") {
  const std::vector<Family> families{
      make_family("quoted", FamilyType::gauge, "a \"b\" \\ c\nd")};
  CHECK(rendered(families, Format::text) ==
        "# HELP quoted a \"b\" \\\\ c\\nd\n"
        "# TYPE quoted gauge\n");
  CHECK(rendered(families, Format::openmetrics) ==
        "# TYPE quoted gauge\n"
        "# HELP quoted a \\\"b\\\" \\\\ c\\nd\n"
        "# EOF\n");
}

TEST_CASE("render: an info sample is 1 whatever its value; no help, no HELP line") {
  Family info = make_family("perfkvm_build", FamilyType::info, "");
  info.samples = {{{{"version", "0.1.0"}}, 0}};
  CHECK(rendered({info}, Format::text) ==
        "# TYPE perfkvm_build_info gauge\n"
        "perfkvm_build_info{version=\"0.1.0\"} 1\n");
  CHECK(rendered({info}, Format::openmetrics) ==
        "# TYPE perfkvm_build info\n"
        "perfkvm_build_info{version=\"0.1.0\"} 1\n"
        "# EOF\n");
}

TEST_CASE("render: appends; no families is an empty exposition") {
  std::string out = "kept\n";
  render({}, Format::text, out);
  CHECK(out == "kept\n");
  render({}, Format::openmetrics, out);
  CHECK(out == "kept\n# EOF\n");
}

TEST_CASE("render: rejects what would make the exposition invalid, naming the family") {
  struct Case {
    std::string what;
    Family family;
    std::string message;
  };
  const auto with_label = [](std::string label_name) {
    Family f = make_family("perfkvm_x", FamilyType::gauge, "x");
    f.samples = {{{{"domain", "a"}, {std::move(label_name), "b"}}, 1}};
    return f;
  };
  Family with_unit = make_family("perfkvm_x_seconds", FamilyType::counter, "x");
  with_unit.unit = "bytes";
  Family info_with_unit = make_family("perfkvm_x_seconds", FamilyType::info, "x");
  info_with_unit.unit = "seconds";
  const std::vector<Case> cases{
      {"a bad metric name", make_family("perfkvm-x", FamilyType::gauge, "x"),
       "metrics family 'perfkvm-x': invalid metric name"},
      {"a counter named with its suffix", make_family("perfkvm_x_total", FamilyType::counter, "x"),
       "metrics family 'perfkvm_x_total': the name must not end in _total, which its counter "
       "samples add"},
      {"an info named with its suffix", make_family("perfkvm_x_info", FamilyType::info, "x"),
       "metrics family 'perfkvm_x_info': the name must not end in _info, which its info "
       "samples add"},
      {"a unit that is not the name's suffix", with_unit,
       "metrics family 'perfkvm_x_seconds': unit 'bytes' is not the name's suffix _bytes"},
      {"an info with a unit", info_with_unit,
       "metrics family 'perfkvm_x_seconds': an info family has no unit"},
      {"a bad label name", with_label("vcpu-0"),
       "metrics family 'perfkvm_x': invalid label name 'vcpu-0'"},
      {"a reserved label name", with_label("__name__"),
       "metrics family 'perfkvm_x': invalid label name '__name__'"},
      {"a label twice", with_label("domain"),
       "metrics family 'perfkvm_x': label 'domain' twice in one sample"},
      {"a family twice", make_family("perfkvm_ok", FamilyType::counter, "again"),
       "metrics family 'perfkvm_ok': a second family of that name"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    for (const Format format : {Format::text, Format::openmetrics}) {
      // A good family first: nothing of it is appended either.
      const std::vector<Family> families{make_family("perfkvm_ok", FamilyType::gauge, "ok"),
                                         c.family};
      std::string out;
      CHECK_THROWS_WITH_AS(render(families, format, out), c.message.c_str(),
                           std::invalid_argument);
      CHECK(out.empty());
    }
  }
}

TEST_CASE("render_labels: the same text as labels rendered with the sample; bad names refused") {
  using namespace perfkvm::host::metrics;
  const std::vector<Label> labels = {{"domain", "db \"1\"\\\n"}, {"vcpu", "0"}};
  Family family;
  family.name = "x";
  family.samples.push_back({labels, 2});
  std::string plain;
  render({family}, Format::text, plain);
  const std::string text = render_labels(labels);
  CHECK(text == "{domain=\"db \\\"1\\\"\\\\\\n\",vcpu=\"0\"}");
  family.samples[0] = {{}, 2, text};
  std::string rendered;
  render({family}, Format::text, rendered);
  CHECK(rendered == plain);
  CHECK(render_labels({}).empty());
  CHECK_THROWS_AS(render_labels({{"0bad", "v"}}), std::invalid_argument);
  CHECK_THROWS_AS(render_labels({{"a", "1"}, {"a", "2"}}), std::invalid_argument);
}
