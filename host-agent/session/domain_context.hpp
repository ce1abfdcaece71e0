// What a channel is bound to. A channel's domain is known from the transport (the domain's
// own virtio-serial socket, or the vsock CID libvirt assigned it) before the guest says a
// word; nothing the guest sends can change it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "host-agent/policy/domain_policy.hpp"
#include "host-agent/session/counter_budget.hpp"
#include "host-agent/session/guest_lease.hpp"
#include "host-agent/session/start_budget.hpp"
#include "host-agent/threads/vcpu_threads.hpp"

namespace perfkvm::host {

class ChannelConnection;

struct DomainContext {
  std::string name;
  std::string uuid;
  std::uint32_t vcpus = 0;  // from the domain XML; the threads are resolved at each start
  // Finds the domain's vCPU threads now (vCPU hotplug: called at every start).
  std::function<VcpuResolution()> resolve_threads;
  std::uint32_t active_sessions = 0;  // over all of this domain's channels
  // Paused or running, as libvirt reports it: a paused domain's sessions keep their lease.
  DomainPause pause;
  // What the domain's metadata says (absent fields: the host's defaults). Changed only through
  // change_policy (session_policy.hpp), which tells the channels below.
  DomainPolicy policy;
  // The channels serving the domain now: each adds itself when it starts serving.
  std::vector<std::weak_ptr<ChannelConnection>> channels;
  // The starts and counter opens all of its channels together may still make this second;
  // made by the domain's first channel from the host's configuration.
  std::optional<StartBudget> start_budget;
  // The counters its running requests hold, within the host's --max-domain-counters; made by
  // the domain's first channel.
  std::shared_ptr<CounterBudget> counters;
  // The counter reads a second its sampling requests cost, within --max-counter-reads.
  std::shared_ptr<CounterBudget> reads;
};

}  // namespace perfkvm::host
