// The workload's control requests during a run (perfkvm ctl, perfkvm_roi.h, and -D's own
// enable): each one that the host can serve becomes a `read` of the counters (protocol 2),
// applied by the RunMonitor when the host's snapshot comes, and answered to whoever asked.
#pragma once

#include <cstdint>
#include <map>

#include "guest-agent/control_endpoint.hpp"
#include "guest-agent/host_session.hpp"
#include "guest-agent/run_monitor.hpp"

namespace perfkvm::guest {

class RunControl {
 public:
  // `endpoint` may be null (it could not be created): then only perfkvm's own requests come.
  RunControl(HostSession& session, RunMonitor& monitor, ControlEndpoint* endpoint,
             Diagnostics& diagnostics);

  // The requests that arrived at the endpoint: a read of the counters each, or an answer at
  // once when there is nothing to read (the host cannot, counting has ended).
  void take_requests();
  // perfkvm's own request (the end of -D MS's delay).
  void request(const ControlRequest& request);
  // Sends the answers the monitor settled since the last call.
  void deliver_answers();

  // Why the host cannot take snapshots, for -D before anything runs; empty if it can.
  static std::string unsupported_reason(const protocol::Welcome& welcome);

 private:
  static constexpr int kOwnRequest = -1;
  struct Asker {
    int client = kOwnRequest;  // an endpoint client, or perfkvm itself
    bool fifo = false;         // --control: errors are perfkvm's to report, the answer an ack
  };
  void submit(const ControlRequest& request, Asker asker);
  void settle(const Asker& asker, const std::string& answer);

  HostSession& session_;
  RunMonitor& monitor_;
  ControlEndpoint* endpoint_;
  Diagnostics& diagnostics_;
  std::uint64_t last_read_id_ = 0;
  std::map<std::uint64_t, Asker> askers_;  // by read_id
};

}  // namespace perfkvm::guest
