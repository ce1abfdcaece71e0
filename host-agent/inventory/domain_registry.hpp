// The running domains hostd serves, by uuid: each with its live-XML facts, the context its
// channels are bound to, and the client of its virtio-serial channel. Fed by the libvirt
// monitor (discovery at start, lifecycle events, re-discovery after a libvirtd restart).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "host-agent/domains/domain_threads.hpp"
#include "host-agent/domains/domain_xml.hpp"
#include "host-agent/policy/domain_policy.hpp"
#include "host-agent/session/domain_context.hpp"
#include "host-agent/threads/host_paths.hpp"
#include "host-agent/transport/virtio_serial_client.hpp"

namespace perfkvm::host {

// A domain's policy as its live XML states it. An element that cannot be read denies guest
// requests (policy = deny) until it is fixed, and `problem` says why: a misspelt rule must not
// silently fall back to the host's defaults, which may be looser.
struct DomainPolicyReading {
  DomainPolicy policy;
  std::string problem;
  bool operator==(const DomainPolicyReading&) const = default;
};

DomainPolicyReading read_domain_policy(std::string_view domain_xml);

class DomainRegistry {
 public:
  struct Entry {
    DomainXmlInfo info;
    DomainPolicyReading policy;
    std::shared_ptr<DomainContext> context;
    std::shared_ptr<VirtioSerialClient> channel;  // null without a usable perfkvm channel
  };

  DomainRegistry(boost::asio::any_io_executor executor, const SessionConfig& config,
                 const std::vector<protocol::EventStatus>& event_table, HostPaths paths);
  ~DomainRegistry();

  // A running domain, as its live XML describes it: serve it (or update what changed, the
  // policy included: its channels apply a new one at once).
  void domain_running(const DomainXmlInfo& info, const DomainPolicyReading& policy = {});
  // libvirt says the domain is paused (or suspended to RAM) or runs again: while paused its
  // guest cannot speak, so its sessions keep their lease (PROTOCOL.md §6.3).
  void domain_paused(const std::string& uuid, bool paused);
  // The domain stopped or vanished: its channel closes and with it its sessions' counters.
  void domain_stopped(const std::string& uuid);
  // After re-discovery: every domain not in `running` has stopped.
  void retain_only(const std::set<std::string>& running);
  void stop_all();

  // The running domain whose vsock CID this is (from its live XML), or nullptr.
  std::shared_ptr<DomainContext> find_by_cid(std::uint32_t cid) const;
  const Entry* find(const std::string& uuid) const;
  const std::map<std::string, Entry>& entries() const { return entries_; }

  // Called when a domain is found running or its live XML is read again (the export counts
  // it from then on), and when it stops (its vsock connections close, its export ends).
  std::function<void(const Entry&)> on_running;
  std::function<void(const DomainContext&)> on_stopped;

 private:
  std::shared_ptr<DomainContext> make_context(const DomainXmlInfo& info) const;
  void stop_entry(Entry& entry);

  boost::asio::any_io_executor executor_;
  const SessionConfig& config_;
  const std::vector<protocol::EventStatus>& event_table_;
  HostPaths paths_;
  std::map<std::string, Entry> entries_;
};

}  // namespace perfkvm::host
