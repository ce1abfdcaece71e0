#include "host-agent/inventory/domain_registry.hpp"

#include <fstream>
#include <memory>
#include <sstream>

#include "host-agent/policy/policy_xml.hpp"
#include "host-agent/threads/failed_lookup_memo.hpp"
#include "host-agent/session/session_policy.hpp"
#include "util/log.hpp"

namespace perfkvm::host {

DomainPolicyReading read_domain_policy(std::string_view domain_xml) {
  try {
    return {parse_domain_policy(domain_xml).value_or(DomainPolicy{}), {}};
  } catch (const PolicyError& bad) {
    DomainPolicy denied;
    denied.guest_requests = GuestRequests::deny;
    return {denied, bad.what()};
  }
}

DomainRegistry::DomainRegistry(boost::asio::any_io_executor executor, const SessionConfig& config,
                               const std::vector<protocol::EventStatus>& event_table,
                               HostPaths paths)
    : executor_(std::move(executor)),
      config_(config),
      event_table_(event_table),
      paths_(std::move(paths)) {}

DomainRegistry::~DomainRegistry() { stop_all(); }

std::shared_ptr<DomainContext> DomainRegistry::make_context(const DomainXmlInfo& info) const {
  auto context = std::make_shared<DomainContext>();
  context->name = info.name;
  context->uuid = info.uuid;
  context->vcpus = info.vcpus;
  context->resolve_threads = [paths = paths_, name = info.name, uuid = info.uuid,
                              memo = std::make_shared<FailedLookupMemo>()] {
    const auto now = FailedLookupMemo::Clock::now();
    if (auto failure = memo->recall(now)) return std::move(*failure);
    VcpuResolution resolution = resolve_domain_threads(paths, name, uuid);
    memo->record(resolution, now);
    return resolution;
  };
  return context;
}

void DomainRegistry::domain_running(const DomainXmlInfo& info,
                                    const DomainPolicyReading& policy) {
  auto [it, added] = entries_.try_emplace(info.uuid);
  Entry& entry = it->second;
  const bool channel_changed = added || entry.info.channel_path != info.channel_path;
  if (added) {
    entry.context = make_context(info);
    log::info("domain '" + info.name + "' is running: " +
              (info.channel_path ? "channel " + *info.channel_path
                                 : info.channel_problem.empty() ? std::string("no perfkvm channel")
                                                                : info.channel_problem) +
              (info.vsock_cid ? ", vsock CID " + std::to_string(*info.vsock_cid) : ""));
  }
  entry.context->vcpus = info.vcpus;
  entry.info = info;
  if (added || entry.policy != policy) {
    // Logged once per change, not at every refresh of the domain's XML.
    if (!policy.problem.empty()) {
      log::error("domain '" + info.name + "': its perfkvm policy cannot be read, so its guest's "
                 "requests are denied until it is fixed: " + policy.problem);
    } else if (!added || policy.policy != DomainPolicy{}) {
      log::info("domain '" + info.name + "': perfkvm policy now " +
                (policy.policy == DomainPolicy{} ? std::string("the host's defaults")
                                                 : policy_xml(policy.policy)));
    }
    entry.policy = policy;
    change_policy(*entry.context, policy.policy);
  }
  if (channel_changed) {
    if (!added) {
      log::info("domain '" + info.name + "': perfkvm channel now " +
                (info.channel_path ? *info.channel_path : std::string("none")));
    }
    if (entry.channel) entry.channel->stop();
    entry.channel.reset();
    if (info.channel_path) {
      entry.channel = std::make_shared<VirtioSerialClient>(executor_, entry.context,
                                                           *info.channel_path, config_, event_table_);
      entry.channel->start();
    }
  }
  if (on_running) on_running(entry);
}

void DomainRegistry::stop_entry(Entry& entry) {
  if (entry.channel) entry.channel->stop();
  entry.channel.reset();
  if (on_stopped) on_stopped(*entry.context);
}

void DomainRegistry::domain_paused(const std::string& uuid, bool paused) {
  const auto it = entries_.find(uuid);
  if (it == entries_.end()) return;
  DomainContext& context = *it->second.context;
  if (!context.pause.set(paused, LeaseClock::now())) return;
  log::info("domain '" + context.name + "' " +
            (paused ? "is paused: its guest sessions keep their lease until it runs again"
                    : "runs again: its guest sessions' leases start over"));
}

void DomainRegistry::domain_stopped(const std::string& uuid) {
  const auto it = entries_.find(uuid);
  if (it == entries_.end()) return;
  log::info("domain '" + it->second.info.name + "' stopped");
  stop_entry(it->second);
  entries_.erase(it);
}

void DomainRegistry::retain_only(const std::set<std::string>& running) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (running.count(it->first)) {
      ++it;
      continue;
    }
    log::info("domain '" + it->second.info.name + "' is no longer running");
    stop_entry(it->second);
    it = entries_.erase(it);
  }
}

void DomainRegistry::stop_all() {
  for (auto& [uuid, entry] : entries_) stop_entry(entry);
  entries_.clear();
}

std::shared_ptr<DomainContext> DomainRegistry::find_by_cid(std::uint32_t cid) const {
  for (const auto& [uuid, entry] : entries_) {
    if (entry.info.vsock_cid == cid) return entry.context;
  }
  return nullptr;
}

const DomainRegistry::Entry* DomainRegistry::find(const std::string& uuid) const {
  const auto it = entries_.find(uuid);
  return it == entries_.end() ? nullptr : &it->second;
}

}  // namespace perfkvm::host
