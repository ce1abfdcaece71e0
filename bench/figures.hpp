// How every benchmark reports a figure: one line on stdout and one JSON line appended to the
// file given with --json, {"figure", "perfkvm", "unit", "baseline_name", "baseline", "ratio",
// "target", "met", "note"}; scripts/bench.sh gathers the lines into one table.
#pragma once

#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

namespace perfkvm::bench {

inline std::string fixed(double value, int digits) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", digits, value);
  return text;
}

class Figures {
 public:
  // `json_path` empty: stdout only.
  explicit Figures(const std::string& json_path) {
    if (json_path.empty()) return;
    json_ = std::fopen(json_path.c_str(), "a");
    if (!json_) throw std::runtime_error("cannot append to " + json_path);
  }
  ~Figures() {
    if (json_) std::fclose(json_);
  }
  Figures(const Figures&) = delete;
  Figures& operator=(const Figures&) = delete;

  // perfkvm / baseline, met when at most `target` (lower is better: CPU time, latency).
  void at_most(const std::string& name, double perfkvm, const std::string& unit,
               const std::string& baseline_name, std::optional<double> baseline, double target,
               const std::string& note) {
    const bool have = baseline && *baseline > 0;
    row(name, perfkvm, unit, baseline_name, baseline, "<= " + fixed(target, 2) + "x",
        have && perfkvm / *baseline <= target, note);
  }

  // perfkvm / baseline, met when at least `target` (higher is better: throughput).
  void at_least(const std::string& name, double perfkvm, const std::string& unit,
                const std::string& baseline_name, std::optional<double> baseline, double target,
                const std::string& note) {
    const bool have = baseline && *baseline > 0;
    row(name, perfkvm, unit, baseline_name, baseline, ">= " + fixed(target, 2) + "x",
        have && perfkvm / *baseline >= target, note);
  }

  // Any figure with its target in words and met as the caller judged it. `perfkvm` is nullopt
  // when the figure could not be measured (the note says why); the ratio is perfkvm / baseline.
  void row(const std::string& name, std::optional<double> perfkvm, const std::string& unit,
           const std::string& baseline_name, std::optional<double> baseline,
           const std::string& target, bool met, const std::string& note) {
    const bool have = baseline && *baseline > 0;
    const std::optional<double> ratio =
        have && perfkvm ? std::optional(*perfkvm / *baseline) : std::nullopt;
    std::printf("%-46s %9s %-5s %-18s %9s  ratio %5s  target %-11s %-7s %s\n", name.c_str(),
                perfkvm ? fixed(*perfkvm, 1).c_str() : "-", unit.c_str(), baseline_name.c_str(),
                baseline ? fixed(*baseline, 1).c_str() : "", ratio ? fixed(*ratio, 2).c_str() : "",
                target.c_str(), met ? "met" : "NOT MET", note.c_str());
    std::fflush(stdout);
    if (!json_) return;
    auto number = [](std::optional<double> v) { return v ? fixed(*v, 3) : std::string("null"); };
    auto text = [](const std::string& s) { return boost::json::serialize(boost::json::string(s)); };
    std::fprintf(json_,
                 "{\"figure\": %s, \"perfkvm\": %s, \"unit\": %s, \"baseline_name\": %s, "
                 "\"baseline\": %s, \"ratio\": %s, \"target\": %s, \"met\": %s, \"note\": %s}\n",
                 text(name).c_str(), number(perfkvm).c_str(), text(unit).c_str(),
                 text(baseline_name).c_str(), number(baseline).c_str(), number(ratio).c_str(),
                 text(target).c_str(), met ? "true" : "false", text(note).c_str());
    std::fflush(json_);
  }

 private:
  std::FILE* json_ = nullptr;
};

}  // namespace perfkvm::bench
