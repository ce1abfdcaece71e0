#include "host-agent/metrics/exposition_format.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>
#include <string>

namespace perfkvm::host::metrics {

namespace {

struct FormatInfo {
  Format format;
  std::string_view name;
  std::string_view content_type;
};
constexpr std::array<FormatInfo, 2> kFormats{{
    {Format::text, "text", "text/plain; version=0.0.4; charset=utf-8"},
    {Format::openmetrics, "openmetrics",
     "application/openmetrics-text; version=1.0.0; charset=utf-8"},
}};

const FormatInfo& info(Format format) {
  return *std::find_if(kFormats.begin(), kFormats.end(),
                       [&](const FormatInfo& f) { return f.format == format; });
}

constexpr std::string_view kOpenMetricsType = "application/openmetrics-text";
constexpr std::string_view kOpenMetricsVersion = "1.0.0";

// How closely a media range matches text/plain: the most specific range that matches decides
// its q (RFC 9110 §12.5.1).
enum class TextMatch { none, any, text_any, text_plain };

std::string_view trim(std::string_view s) {
  const auto blank = [](char c) { return c == ' ' || c == '\t'; };
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view unquote(std::string_view s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') return s.substr(1, s.size() - 2);
  return s;
}

std::optional<double> parse_q(std::string_view text) {
  double q = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), q);
  if (error != std::errc{} || end != text.data() + text.size() || !(q >= 0 && q <= 1)) {
    return std::nullopt;
  }
  return q;
}

// One media range of an Accept header: "type/subtype; name=value; q=0.5".
struct MediaRange {
  std::string type;     // lower case
  std::string version;  // the version parameter, unquoted; empty if none
  double q = 1;
};

// nullopt for a range with a malformed q, which the header's sender cannot have meant.
std::optional<MediaRange> parse_range(std::string_view text) {
  MediaRange range;
  std::size_t semicolon = text.find(';');
  range.type = lower(trim(text.substr(0, semicolon)));
  while (semicolon != std::string_view::npos) {
    text.remove_prefix(semicolon + 1);
    semicolon = text.find(';');
    const std::string_view parameter = text.substr(0, semicolon);
    const std::size_t equals = parameter.find('=');
    if (equals == std::string_view::npos) continue;
    const std::string name = lower(trim(parameter.substr(0, equals)));
    const std::string_view value = unquote(trim(parameter.substr(equals + 1)));
    if (name == "q") {
      const auto q = parse_q(value);
      if (!q) return std::nullopt;
      range.q = *q;
    } else if (name == "version") {
      range.version = std::string(value);
    }
  }
  return range;
}

TextMatch text_match(const MediaRange& range) {
  if (range.type == "text/plain") return TextMatch::text_plain;
  if (range.type == "text/*") return TextMatch::text_any;
  if (range.type == "*/*") return TextMatch::any;
  return TextMatch::none;
}

bool accepts_openmetrics_1(const MediaRange& range) {
  return range.type == kOpenMetricsType &&
         (range.version.empty() || range.version == kOpenMetricsVersion);
}

}  // namespace

std::string_view to_string(Format format) { return info(format).name; }

std::string_view content_type(Format format) { return info(format).content_type; }

Format negotiate_format(std::string_view accept_header) {
  double openmetrics_q = 0;
  double text_q = 0;
  TextMatch text_specificity = TextMatch::none;
  while (!accept_header.empty()) {
    const std::size_t comma = accept_header.find(',');
    const auto range = parse_range(accept_header.substr(0, comma));
    accept_header.remove_prefix(comma == std::string_view::npos ? accept_header.size() : comma + 1);
    if (!range) continue;
    if (accepts_openmetrics_1(*range)) openmetrics_q = std::max(openmetrics_q, range->q);
    const TextMatch match = text_match(*range);
    if (match == TextMatch::none || match < text_specificity) continue;
    text_q = match > text_specificity ? range->q : std::max(text_q, range->q);
    text_specificity = match;
  }
  return openmetrics_q > 0 && openmetrics_q >= text_q ? Format::openmetrics : Format::text;
}

}  // namespace perfkvm::host::metrics
