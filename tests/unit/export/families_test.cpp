// The families the export serves, from a fixed model of totals and health: golden files in
// tests/data/export in both formats (promtool checks the text one: tests/unit/export/meson.build),
// and the rules a dashboard relies on, one case each.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "host-agent/counters/column_plan.hpp"
#include "host-agent/export/families.hpp"
#include "host-agent/metrics/sample_value.hpp"
#include "test_data.hpp"

namespace perfkvm::host {
namespace {

using metrics::Family;

protocol::Count count(std::uint64_t value, std::uint64_t enabled, std::uint64_t running) {
  return {value, enabled, running};
}

std::optional<metrics::ScaledTotal> total_of(std::initializer_list<protocol::Count> readings) {
  metrics::ScaledTotal total;
  for (const auto& reading : readings) total.add(reading);
  return total;
}

// Two domains; the second's name holds what label escaping must handle. Columns: task-clock,
// context-switches, instructions split into guest and host (--metrics-mode both).
struct Model {
  std::vector<CounterColumn> columns;
  DomainTotals web, odd;
  HostdHealth health;

  Model() {
    const std::vector<std::string> events = {"task-clock", "context-switches", "instructions"};
    columns = plan_named_columns(events, protocol::StartMode::both);
    web.identity = {"web-01", "6695eb01-f6a4-8304-79aa-97f2502e193f", "/run/perfkvm/web-01.sock", 3};
    web.columns = columns;
    // vCPU 0: 1.5 s of task-clock, 42 switches, instructions multiplexed (running half the
    // enabled time: scaled to twice the raw count).
    web.vcpus[0].columns = {total_of({count(1'500'000'000, 2'000'000'000, 2'000'000'000)}),
                            total_of({count(42, 2'000'000'000, 2'000'000'000)}),
                            total_of({count(2'000'000, 1'000'000, 500'000)}),
                            total_of({count(500, 1'000'000, 1'000'000)})};
    // vCPU 1: idle, instructions not counted on it.
    web.vcpus[1].columns = {total_of({count(132'380'442, 2'000'000'000, 2'000'000'000)}),
                            total_of({count(3, 2'000'000'000, 2'000'000'000)}), std::nullopt,
                            std::nullopt};
    // web's label sets rendered once, as DomainCounters does; odd's at each render: both ways
    // must give the same exposition.
    for (auto& [vcpu, totals] : web.vcpus) render_vcpu_labels(web.identity, vcpu, columns, totals);
    odd.identity = {"db \"primary\" \\ wëb\nline", "0f3ab4bc-0fb1-4f0c-a2f8-0d1d2a4d7c15", "",
                    std::nullopt};
    odd.columns = columns;
    odd.vcpus[0].columns = {total_of({count(1'000'000, 1'000'000, 1'000'000)}),
                            total_of({count(1, 1'000'000, 1'000'000)}), std::nullopt, std::nullopt};
    health.version = "0.1.0";
    health.sessions.sessions_active = 1;
    health.sessions.sessions_started = 7;
    health.sessions.requests_started = 5;
    health.sessions.samples_sent = 120;
    health.sessions.samples_dropped = 2;
    health.sessions.frames_discarded = 1;
    health.sessions.bytes_discarded = 4096;
    health.sessions.errors_sent[protocol::ErrorCode::unknown_event] = 3;
    health.counters_open = 10;
    health.counters_limit = 65536;
    health.libvirt_connected = true;
    health.libvirt_connects = 2;
    health.domains_running = 2;
    health.scrape_reads = 9;
  }

  std::vector<Family> families() const {
    const std::vector<const DomainTotals*> domains = {&web, &odd};
    auto all = vcpu_families(columns, domains);
    all.push_back(domain_info_family(domains));
    for (auto& family : hostd_families(health)) all.push_back(std::move(family));
    return all;
  }
};

std::string rendered(metrics::Format format) {
  std::string out;
  const Model model;  // the families' rendered labels point into it
  metrics::render(model.families(), format, out);
  return out;
}

const Family& family_named(const std::vector<Family>& families, const std::string& name) {
  const auto it = std::find_if(families.begin(), families.end(),
                               [&](const Family& family) { return family.name == name; });
  REQUIRE_MESSAGE(it != families.end(), "no family " << name);
  return *it;
}

// A label's value, from the sample's labels or, where they were rendered once, from the
// rendered text (the values looked up here need no unescaping).
std::string label(const metrics::MetricSample& sample, const std::string& name) {
  for (const auto& l : sample.labels) {
    if (l.name == name) return l.value;
  }
  const std::string text(sample.rendered_labels);
  for (std::size_t at = text.find(name + "=\""); at != std::string::npos; at = text.find(name + "=\"", at + 1)) {
    if (at > 0 && text[at - 1] != '{' && text[at - 1] != ',') continue;
    const std::size_t begin = at + name.size() + 2;
    return text.substr(begin, text.find('"', begin) - begin);
  }
  return "(none)";
}

TEST_CASE("export families: the text format 0.0.4 as tests/data/export/scrape.prom") {
  const std::string expected = test::read_file(test::data_dir() / "export" / "scrape.prom");
  const std::string actual = rendered(metrics::Format::text);
  CHECK_MESSAGE(actual == expected, "rendered:\n" << actual);
}

TEST_CASE("export families: OpenMetrics 1.0 as tests/data/export/scrape.om") {
  const std::string expected = test::read_file(test::data_dir() / "export" / "scrape.om");
  const std::string actual = rendered(metrics::Format::openmetrics);
  CHECK_MESSAGE(actual == expected, "rendered:\n" << actual);
}

TEST_CASE("export families: the clocks are in seconds, counts as counted, multiplexed counts scaled") {
  const Model model;  // the families' rendered labels point into it
  const auto families = model.families();
  const auto& clock = family_named(families, "perfkvm_vcpu_task_clock_seconds");
  CHECK(clock.unit == "seconds");
  CHECK(clock.samples.at(0).value == doctest::Approx(1.5));
  // Exact in decimal, as a division by 1e9 gives it (a multiplication by 1e-9 would not).
  std::string rendered;
  metrics::append_sample_value(clock.samples.at(1).value, rendered);
  CHECK(rendered == "0.132380442");
  const auto& switches = family_named(families, "perfkvm_vcpu_context_switches");
  CHECK(switches.samples.at(0).value == 42);
  const auto& instructions = family_named(families, "perfkvm_vcpu_instructions");
  REQUIRE(instructions.samples.size() == 2);  // vCPU 0 guest and host; vCPU 1 not counted
  CHECK(label(instructions.samples[0], "scope") == "guest");
  CHECK(instructions.samples[0].value == doctest::Approx(2'000'000));
  CHECK(label(instructions.samples[1], "scope") == "host");
}

TEST_CASE("export families: scope only on split hardware columns; no series where a column is not counted") {
  const Model model;  // the families' rendered labels point into it
  const auto families = model.families();
  for (const auto& sample : family_named(families, "perfkvm_vcpu_context_switches").samples) {
    CHECK(label(sample, "scope") == "(none)");
  }
  for (const auto& sample : family_named(families, "perfkvm_vcpu_instructions").samples) {
    CHECK(label(sample, "vcpu") == "0");
  }
}

TEST_CASE("export families: the running ratio per counted column, 0.5 where multiplexed") {
  const Model model;  // the families' rendered labels point into it
  const auto families = model.families();
  const auto& ratio = family_named(families, "perfkvm_vcpu_counter_running_ratio");
  CHECK(ratio.type == metrics::FamilyType::gauge);
  bool multiplexed_seen = false;
  for (const auto& sample : ratio.samples) {
    if (label(sample, "event") == "instructions" && label(sample, "scope") == "guest") {
      CHECK(sample.value == doctest::Approx(0.5));
      multiplexed_seen = true;
    } else {
      CHECK(sample.value == doctest::Approx(1.0));
    }
  }
  CHECK(multiplexed_seen);
  CHECK(ratio.samples.size() == 4 + 2 + 2);  // web vCPU 0: 4 columns, vCPU 1: 2, odd: 2
}

TEST_CASE("export families: domain info names the channel and CID, empty when there is none") {
  const Model model;  // the families' rendered labels point into it
  const auto families = model.families();
  const auto& info = family_named(families, "perfkvm_domain");
  REQUIRE(info.samples.size() == 2);
  CHECK(label(info.samples[0], "channel") == "/run/perfkvm/web-01.sock");
  CHECK(label(info.samples[0], "vsock_cid") == "3");
  CHECK(label(info.samples[1], "channel").empty());
  CHECK(label(info.samples[1], "vsock_cid").empty());
}

TEST_CASE("export families: every guest error code has a series, zero until sent") {
  const Model model;  // the families' rendered labels point into it
  const auto families = model.families();
  const auto& errors = family_named(families, "perfkvm_hostd_guest_errors");
  CHECK(errors.samples.size() == std::size(protocol::EnumStrings<protocol::ErrorCode>::table));
  for (const auto& sample : errors.samples) {
    CHECK(sample.value == (label(sample, "code") == "unknown-event" ? 3 : 0));
  }
}

TEST_CASE("export families: libvirt reconnects do not count the first connection") {
  const Model model;  // the families' rendered labels point into it
  const auto families = model.families();
  CHECK(family_named(families, "perfkvm_hostd_libvirt_reconnects").samples.at(0).value == 1);
  CHECK(family_named(families, "perfkvm_hostd_libvirt_connected").samples.at(0).value == 1);
}

}  // namespace
}  // namespace perfkvm::host

namespace perfkvm::host {
namespace {

TEST_CASE("export families: label sets rendered once give the same exposition as labels rendered at each scrape") {
  Model model;
  std::string once;
  metrics::render(model.families(), metrics::Format::openmetrics, once);
  for (auto& [vcpu, totals] : model.web.vcpus) {
    totals.series_labels.clear();
    totals.ratio_labels.clear();
  }
  for (auto& [vcpu, totals] : model.odd.vcpus) render_vcpu_labels(model.odd.identity, vcpu, model.columns, totals);
  std::string each_time;
  metrics::render(model.families(), metrics::Format::openmetrics, each_time);
  CHECK(once == each_time);
  CHECK(once.find("domain=\"db \\\"primary\\\" \\\\ wëb\\nline\"") != std::string::npos);
}

}  // namespace
}  // namespace perfkvm::host
