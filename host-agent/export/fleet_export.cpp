#include "host-agent/export/fleet_export.hpp"

#include <exception>
#include <utility>

#include "host-agent/export/families.hpp"
#include "util/log.hpp"

namespace perfkvm::host {

namespace {

DomainIdentity identity_of(const DomainXmlInfo& info) {
  return {info.name, info.uuid, info.channel_path.value_or(std::string()), info.vsock_cid};
}

}  // namespace

FleetExport::FleetExport(std::vector<CounterColumn> plan, std::chrono::milliseconds min_read_interval,
                         std::shared_ptr<CounterBudget> budget, std::function<HostdHealth()> health)
    : plan_(std::move(plan)),
      min_read_interval_(min_read_interval),
      budget_(std::move(budget)),
      health_(std::move(health)) {}

void FleetExport::domain_running(const DomainXmlInfo& info, ResolveThreads resolve_threads) {
  auto it = domains_.find(info.uuid);
  if (it == domains_.end()) {
    it = domains_.emplace(info.uuid, Domain{DomainCounters(identity_of(info), plan_, budget_),
                                            std::move(resolve_threads), {}, {}})
             .first;
  } else {
    it->second.counters.set_identity(identity_of(info));
    it->second.resolve_threads = std::move(resolve_threads);
  }
  resolve(it->second, Clock::now());
}

void FleetExport::domain_stopped(const std::string& uuid) { domains_.erase(uuid); }

void FleetExport::stop_all() { domains_.clear(); }

void FleetExport::resolve(Domain& domain, Clock::time_point now) {
  domain.resolved_at = now;
  const std::string& name = domain.counters.totals().identity.name;
  VcpuResolution resolution;
  try {
    resolution = domain.resolve_threads();
  } catch (const std::exception& failure) {
    resolution.problem = failure.what();
  }
  if (resolution.problem != domain.problem) {
    if (!resolution.problem.empty()) {
      log::warning("export: domain '" + name + "' not counted: " + resolution.problem);
    } else if (!domain.problem.empty()) {
      log::info("export: domain '" + name + "' counted again");
    }
    domain.problem = resolution.problem;
  }
  const auto left_out = domain.counters.follow_threads(resolution.threads);
  if (!left_out.empty()) {
    log::warning("export: domain '" + name + "': " + std::to_string(left_out.size()) +
                 " vCPU(s) not counted: the host-wide counter budget (--max-host-counters) is "
                 "full");
  }
}

void FleetExport::read_all(Clock::time_point now) {
  for (auto& [uuid, domain] : domains_) {
    domain.counters.read();
    const auto recheck = domain.counters.counted_vcpus() == 0 ? kUncountedRecheckPeriod
                                                               : kThreadRecheckPeriod;
    if (now - domain.resolved_at >= recheck) {
      resolve(domain, now);
    }
  }
  last_read_ = now;
  ++reads_;
}

std::string FleetExport::scrape(metrics::Format format, Clock::time_point now) {
  if (!last_read_ || now - *last_read_ >= min_read_interval_) read_all(now);
  std::vector<const DomainTotals*> totals;
  totals.reserve(domains_.size());
  for (const auto& [uuid, domain] : domains_) totals.push_back(&domain.counters.totals());
  auto families = vcpu_families(plan_, totals);
  families.push_back(domain_info_family(totals));
  HostdHealth health = health_ ? health_() : HostdHealth{};
  health.domains_running = domains_.size();
  health.scrape_reads = reads_;
  for (auto& family : hostd_families(health)) families.push_back(std::move(family));
  std::string body;
  // The body is megabytes for a large fleet: sized once from the last one rather than grown
  // by doubling, each step a copy and fresh pages.
  body.reserve(last_body_bytes_ + last_body_bytes_ / 8);
  metrics::render(families, format, body);
  last_body_bytes_ = body.size();
  return body;
}

}  // namespace perfkvm::host
