// Renders a tests/data/report/<case>/ fixture the way perfkvm prints it, for golden_test.cpp to
// hold against expected.*. Those files come from perf 6.1's source and are proven against the
// real perf by tests/data/report/oracle_test.py; never write this renderer's output into them,
// or the golden test would compare perfkvm with itself.
//   report.json                       a report message -> format_report
//   started.json + sample-<seq>.json  a started message and samples -> format_interval per
//                                     sample, in seq order, header on the first block only
//   options.json                      FormatOptions: command, target_label, per_vcpu, separator
#pragma once

#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "protocol/codec.hpp"
#include "report/formatter.hpp"
#include "test_data.hpp"

namespace perfkvm::test {

template <typename MessageType>
MessageType read_message(const std::filesystem::path& path) {
  const auto parsed = protocol::parse_message(read_file(path));
  if (const auto* error = std::get_if<protocol::ParseError>(&parsed)) {
    throw std::runtime_error(path.string() + ": " + error->message);
  }
  const auto* message = std::get_if<MessageType>(&std::get<protocol::Message>(parsed));
  if (message == nullptr) throw std::runtime_error(path.string() + ": unexpected message type");
  return *message;
}

inline report::FormatOptions read_options(const std::filesystem::path& path,
                                          report::OutputFormat format) {
  report::FormatOptions options;
  options.format = format;
  const boost::json::object object = boost::json::parse(read_file(path)).as_object();
  if (const auto* value = object.if_contains("command")) options.command = value->as_string();
  if (const auto* value = object.if_contains("target_label")) {
    options.target_label = value->as_string();
  }
  if (const auto* value = object.if_contains("per_vcpu")) options.per_vcpu = value->as_bool();
  if (const auto* value = object.if_contains("separator")) options.separator = value->as_string();
  return options;
}

inline std::string render_case(const std::filesystem::path& dir, report::OutputFormat format,
                               const report::NumericLocale& numeric = {}) {
  report::FormatOptions options = read_options(dir / "options.json", format);
  options.numeric = numeric;
  if (std::filesystem::exists(dir / "report.json")) {
    return report::format_report(read_message<protocol::Report>(dir / "report.json"), options);
  }
  const auto started = read_message<protocol::Started>(dir / "started.json");
  std::vector<protocol::Sample> samples;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().filename().string().rfind("sample-", 0) == 0) {
      samples.push_back(read_message<protocol::Sample>(entry.path()));
    }
  }
  if (samples.empty()) throw std::runtime_error(dir.string() + ": no report.json nor samples");
  std::sort(samples.begin(), samples.end(),
            [](const auto& a, const auto& b) { return a.seq < b.seq; });
  std::string out;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const protocol::Sample* previous = i == 0 ? nullptr : &samples[i - 1];
    out += report::format_interval(started.columns, samples[i], previous, options, i == 0);
  }
  return out;
}

}  // namespace perfkvm::test
