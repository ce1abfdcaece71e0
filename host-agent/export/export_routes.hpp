// What the metrics endpoint serves: GET /metrics (the exposition, in the format the scraper's
// Accept header asks for) and GET / (a short page pointing at it).
#pragma once

#include <map>
#include <string>

#include "host-agent/export/fleet_export.hpp"
#include "host-agent/http/http_server.hpp"

namespace perfkvm::host {

// The routes for HttpServer; `fleet` must outlive the server.
std::map<std::string, http::Route> export_routes(FleetExport& fleet);

}  // namespace perfkvm::host
