#include "guest-agent/run_control.hpp"

namespace perfkvm::guest {

RunControl::RunControl(HostSession& session, RunMonitor& monitor, ControlEndpoint* endpoint,
                       Diagnostics& diagnostics)
    : session_(session), monitor_(monitor), endpoint_(endpoint), diagnostics_(diagnostics) {}

std::string RunControl::unsupported_reason(const protocol::Welcome& welcome) {
  if (welcome.protocol >= protocol::kReadProtocolVersion) return {};
  return "perfkvm-hostd speaks protocol version " + std::to_string(welcome.protocol) +
         ", which cannot read the counters during a run (version " +
         std::to_string(protocol::kReadProtocolVersion) +
         " can): update perfkvm-hostd on the host";
}

void RunControl::take_requests() {
  if (endpoint_ == nullptr) return;
  for (auto& incoming : endpoint_->take()) {
    if (const auto* problem = std::get_if<std::string>(&incoming.request)) {
      endpoint_->answer(incoming.client, "error: " + *problem);
    } else {
      submit(std::get<ControlRequest>(incoming.request), incoming.client);
    }
  }
}

void RunControl::request(const ControlRequest& request) { submit(request, kOwnRequest); }

void RunControl::submit(const ControlRequest& request, int client) {
  std::string refusal = unsupported_reason(session_.welcome());
  if (refusal.empty() && !monitor_.counting()) {
    refusal = monitor_.lost() ? "the session with perfkvm-hostd is gone"
                              : "counting has ended for this run";
  }
  if (!refusal.empty()) {
    if (client == kOwnRequest) {
      diagnostics_.warning("counting could not be enabled after the delay (-D): " + refusal);
    } else if (endpoint_ != nullptr) {
      endpoint_->answer(client, "error: " + refusal);
    }
    return;
  }
  protocol::Read read;
  read.request_id = session_.request_id();
  read.read_id = ++last_read_id_;
  session_.send(read);
  monitor_.expect_snapshot(read.read_id, request);
  askers_.emplace(read.read_id, client);
}

void RunControl::deliver_answers() {
  for (const auto& [read_id, answer] : monitor_.take_answers()) {
    const auto asker = askers_.find(read_id);
    if (asker == askers_.end()) continue;
    if (asker->second == kOwnRequest) {
      if (answer != "ok") diagnostics_.warning("counting could not be enabled after the delay (-D): " + answer);
    } else if (endpoint_ != nullptr) {
      endpoint_->answer(asker->second, answer);
    }
    askers_.erase(asker);
  }
}

}  // namespace perfkvm::guest
