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
    const Asker asker{incoming.client, incoming.from_fifo};
    if (const auto* problem = std::get_if<std::string>(&incoming.request)) {
      settle(asker, "error: " + *problem);
    } else {
      submit(std::get<ControlRequest>(incoming.request), asker);
    }
  }
}

void RunControl::request(const ControlRequest& request) { submit(request, Asker{}); }

void RunControl::settle(const Asker& asker, const std::string& answer) {
  constexpr std::string_view kError = "error: ";
  const bool failed = answer.starts_with(kError);
  if (asker.client == kOwnRequest) {
    if (failed) {
      diagnostics_.warning("counting could not be enabled after the delay (-D): " +
                           answer.substr(kError.size()));
    }
    return;
  }
  if (asker.fifo && failed) diagnostics_.warning("--control: " + answer.substr(kError.size()));
  if (endpoint_ != nullptr) endpoint_->answer(asker.client, answer);
}

void RunControl::submit(const ControlRequest& request, Asker asker) {
  std::string refusal = unsupported_reason(session_.welcome());
  if (refusal.empty() && !monitor_.counting()) {
    refusal = monitor_.lost() ? "the session with perfkvm-hostd is gone"
                              : "counting has ended for this run";
  }
  if (!refusal.empty()) return settle(asker, "error: " + refusal);
  protocol::Read read;
  read.request_id = session_.request_id();
  read.read_id = ++last_read_id_;
  session_.send(read);
  monitor_.expect_snapshot(read.read_id, request);
  askers_.emplace(read.read_id, asker);
}

void RunControl::deliver_answers() {
  for (const auto& [read_id, answer] : monitor_.take_answers()) {
    const auto asker = askers_.find(read_id);
    if (asker == askers_.end()) continue;
    settle(asker->second, answer);
    askers_.erase(asker);
  }
}

}  // namespace perfkvm::guest
