// Which of Prometheus' two text formats a scrape gets, from its Accept header. Pure functions.
#pragma once

#include <string_view>

namespace perfkvm::host::metrics {

enum class Format {
  text,         // the Prometheus text exposition format 0.0.4
  openmetrics,  // OpenMetrics 1.0.0
};

std::string_view to_string(Format format);

// OpenMetrics when the Accept header names application/openmetrics-text, with version=1.0.0
// or no version, at a q above 0 and at least as high as text/plain's; else text, the default
// every scraper understands. Only an explicit OpenMetrics range selects it: */* (curl, a
// browser) gets text. text/plain's q is that of the most specific range matching it
// (text/plain, else text/*, else */*; 0 if none). Media types and parameter names are
// case-insensitive; a range whose q does not parse as a number in [0, 1] is ignored.
// Prometheus sends e.g. "application/openmetrics-text;version=1.0.0,
// application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1".
Format negotiate_format(std::string_view accept_header);

// The Content-Type of a response in `format`:
// "text/plain; version=0.0.4; charset=utf-8" or
// "application/openmetrics-text; version=1.0.0; charset=utf-8".
std::string_view content_type(Format format);

}  // namespace perfkvm::host::metrics
