#include "host-agent/export/export_routes.hpp"

#include "perfkvm_config.hpp"

namespace perfkvm::host {

namespace {

constexpr const char* kIndexPage =
    "<!DOCTYPE html>\n<html><head><title>perfkvm-hostd</title></head><body>\n"
    "<h1>perfkvm-hostd</h1>\n"
    "<p>Per-vCPU perf counters of the libvirt domains on this host: <a href=\"metrics\">/metrics</a></p>\n"
    "</body></html>\n";

}  // namespace

std::map<std::string, http::Route> export_routes(FleetExport& fleet) {
  std::map<std::string, http::Route> routes;
  routes["/metrics"] = [&fleet](const http::Request& request) {
    const auto format = metrics::negotiate_format(request.accept);
    return http::Response{std::string(metrics::content_type(format)), fleet.scrape(format)};
  };
  routes["/"] = [](const http::Request&) {
    return http::Response{"text/html; charset=utf-8", kIndexPage};
  };
  return routes;
}

}  // namespace perfkvm::host
