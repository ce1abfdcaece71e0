// The export: every running domain counted continuously on its vCPU threads, from the moment
// hostd finds it (fed by the domain registry's running/stopped notices) until it stops; its
// counters read when a scrape comes — no timer — at most once per minimum read interval, so a
// burst of scrapes is served from the last read. The counters draw on the host-wide budget the
// guests' requests draw on.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "host-agent/domains/domain_xml.hpp"
#include "host-agent/export/domain_counters.hpp"
#include "host-agent/export/hostd_health.hpp"
#include "host-agent/metrics/exposition.hpp"

namespace perfkvm::host {

class FleetExport {
 public:
  using Clock = std::chrono::steady_clock;
  using ResolveThreads = std::function<VcpuResolution()>;

  // How often a domain's vCPU threads are looked for again at a read: to follow vCPU hotplug
  // (libvirt sends no event for it) and to end the series of a thread that exited (the reads
  // do not ask /proc).
  static constexpr std::chrono::seconds kThreadRecheckPeriod{10};
  // The same for a domain none of whose threads could be counted (QEMU not found yet, the
  // budget full).
  static constexpr std::chrono::seconds kUncountedRecheckPeriod{2};

  FleetExport(std::vector<CounterColumn> plan, std::chrono::milliseconds min_read_interval,
              std::shared_ptr<CounterBudget> budget, std::function<HostdHealth()> health);

  // A domain is running (found, or its live XML changed): counted from now on, its threads
  // resolved at once by `resolve_threads`.
  void domain_running(const DomainXmlInfo& info, ResolveThreads resolve_threads);
  // It stopped: its counters close and its series are gone from the next scrape.
  void domain_stopped(const std::string& uuid);
  void stop_all();

  // Every family in `format`, after reading the counters if the last read is older than the
  // minimum read interval.
  std::string scrape(metrics::Format format, Clock::time_point now = Clock::now());

  std::size_t domain_count() const { return domains_.size(); }
  std::uint64_t reads() const { return reads_; }

 private:
  struct Domain {
    DomainCounters counters;
    ResolveThreads resolve_threads;
    Clock::time_point resolved_at{};
    std::string problem;  // the last resolution's, logged when it changes
  };

  void resolve(Domain& domain, Clock::time_point now);
  void read_all(Clock::time_point now);

  std::vector<CounterColumn> plan_;
  std::chrono::milliseconds min_read_interval_;
  std::shared_ptr<CounterBudget> budget_;
  std::function<HostdHealth()> health_;
  std::map<std::string, Domain> domains_;  // by uuid: the order of the series
  std::optional<Clock::time_point> last_read_;
  std::uint64_t reads_ = 0;
  std::size_t last_body_bytes_ = 0;  // the last scrape's, to size the next
};

}  // namespace perfkvm::host
