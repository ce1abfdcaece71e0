#include "host-agent/metrics/exposition_format.hpp"

#include <doctest/doctest.h>

#include <string_view>

namespace {

using perfkvm::host::metrics::content_type;
using perfkvm::host::metrics::Format;
using perfkvm::host::metrics::negotiate_format;
using perfkvm::host::metrics::to_string;

struct Case {
  std::string_view accept;
  Format expected;
};

}  // namespace

TEST_CASE("negotiate_format: Prometheus' own Accept header gets OpenMetrics") {
  CHECK(negotiate_format("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                         "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1") ==
        Format::openmetrics);
}

TEST_CASE("negotiate_format: text unless OpenMetrics 1.0.0 is asked for at least as much") {
  for (const Case& c : {
           Case{"", Format::text},
           Case{"text/plain", Format::text},
           Case{"text/plain;version=0.0.4", Format::text},
           Case{"*/*", Format::text},  // curl, a browser: OpenMetrics only when named
           Case{"application/*", Format::text},
           Case{"application/openmetrics-text", Format::openmetrics},
           Case{"application/openmetrics-text; version=1.0.0", Format::openmetrics},
           Case{"application/openmetrics-text;version=0.0.1", Format::text},  // not ours
           Case{"application/openmetrics-text;version=1.0.0;q=0.4,text/plain;q=0.5", Format::text},
           Case{"text/plain;q=0.5,application/openmetrics-text;q=0.5", Format::openmetrics},
           Case{"application/openmetrics-text;q=0", Format::text},
           Case{"application/openmetrics-text;q=0.2,*/*;q=0.1", Format::openmetrics},
           Case{"application/openmetrics-text;q=0.2,*/*", Format::text},
           // text/plain's q is its most specific range's, not the highest matching one.
           Case{"application/openmetrics-text;q=0.5,text/plain;q=0.1,*/*", Format::openmetrics},
           Case{"application/openmetrics-text;q=0.5,text/*;q=0.8", Format::text},
           // Case-insensitive names, blanks, a quoted version, other parameters.
           Case{" Application/OpenMetrics-Text ; Version=\"1.0.0\" ; escaping=underscores ; Q=0.9 ,"
                " text/plain;q=0.8",
                Format::openmetrics},
           // A malformed q drops its range only.
           Case{"application/openmetrics-text;q=high", Format::text},
           Case{"application/openmetrics-text;q=2", Format::text},
           Case{"text/plain;q=x,application/openmetrics-text;q=0.1", Format::openmetrics},
           Case{",,;;=,", Format::text},
       }) {
    CAPTURE(c.accept);
    CHECK(to_string(negotiate_format(c.accept)) == to_string(c.expected));
  }
}

TEST_CASE("content_type: the Content-Type each format is served with") {
  CHECK(content_type(Format::text) == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(content_type(Format::openmetrics) ==
        "application/openmetrics-text; version=1.0.0; charset=utf-8");
  CHECK(to_string(Format::text) == "text");
  CHECK(to_string(Format::openmetrics) == "openmetrics");
}
