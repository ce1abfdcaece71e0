// Which domains the Prometheus export counts: every running domain whose effective policy
// says export='yes' (the built-in default), followed as the registry reports them. A policy
// change that switches a domain off ends its series at once; switched on, it is counted from
// then on (new series, a counter reset to Prometheus).
#pragma once

#include "host-agent/export/fleet_export.hpp"
#include "host-agent/inventory/domain_registry.hpp"
#include "host-agent/session/session_config.hpp"

namespace perfkvm::host {

// For DomainRegistry::on_running: the domain is found, or its live XML (its policy) changed.
void export_if_permitted(FleetExport& fleet, const DomainRegistry::Entry& entry,
                         const SessionConfig& config);

}  // namespace perfkvm::host
