#include "host-agent/hostd/export_policy.hpp"

#include "host-agent/session/session_policy.hpp"

namespace perfkvm::host {

void export_if_permitted(FleetExport& fleet, const DomainRegistry::Entry& entry,
                         const SessionConfig& config) {
  if (effective_policy(*entry.context, config).export_counted.value) {
    fleet.domain_running(entry.info, entry.context->resolve_threads);
  } else {
    fleet.domain_stopped(entry.info.uuid);  // nothing happens if it was not counted
  }
}

}  // namespace perfkvm::host
