#include "host-agent/session/measurement.hpp"

#include <algorithm>
#include <stdexcept>

#include "host-agent/counters/column_plan.hpp"

namespace perfkvm::host {

namespace {

std::vector<std::uint32_t> vcpus_of(const std::vector<VcpuTarget>& targets) {
  std::vector<std::uint32_t> vcpus;
  for (const auto& target : targets) vcpus.push_back(target.vcpu);
  return vcpus;
}

}  // namespace

Measurement::Measurement(std::vector<VcpuTarget> targets,
                         const std::vector<std::string>& event_names, protocol::StartMode mode,
                         bool per_vcpu)
    : vcpus_(vcpus_of(targets)), per_vcpu_(per_vcpu) {
  std::vector<const protocol::EventInfo*> events;
  for (const auto& name : event_names) {
    const auto* event = protocol::find_event(name);
    if (!event) throw std::invalid_argument("unknown event '" + name + "'");
    events.push_back(event);
  }
  const auto plan = plan_columns(events, mode);
  counters_.emplace(std::move(targets), plan);
  columns_ = counters_->columns();
  // The plan keeps the order of the events, one column each, two for a hardware event in
  // mode both: label them as the request named them (PROTOCOL.md: column.event).
  std::size_t column = 0;
  for (std::size_t e = 0; e < events.size(); ++e) {
    const bool two = mode == protocol::StartMode::both &&
                     events[e]->kind == protocol::EventKind::hardware;
    for (int k = 0; k < (two ? 2 : 1) && column < columns_.size(); ++k) {
      columns_[column++].event = event_names[e];
    }
  }
}

void Measurement::note_threads(const CounterReading& reading) {
  threads_ended_ = !reading.vcpus.empty() &&
                   std::all_of(reading.vcpus.begin(), reading.vcpus.end(), [](const auto& row) {
                     return row.status == protocol::VcpuStatus::ended;
                   });
}

bool Measurement::check_threads() {
  if (counters_) note_threads(counters_->read());
  return threads_ended_;
}

void Measurement::start() {
  started_at_ = Clock::now();
  counters_->enable();
}

std::uint64_t Measurement::elapsed_ns() const {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - started_at_).count());
}

protocol::Sample Measurement::sample(const std::string& nonce, std::uint64_t request_id) {
  if (!counters_) throw std::logic_error("sample() after finish()");
  protocol::Sample sample;
  sample.nonce = nonce;
  sample.request_id = request_id;
  sample.seq = ++seq_;
  auto reading = counters_->read(PresenceCheck::periodic);
  note_threads(reading);
  sample.elapsed_ns = elapsed_ns();
  sample.host_time_ns = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
  sample.totals = std::move(reading.totals);
  if (per_vcpu_) sample.vcpus = std::move(reading.vcpus);
  return sample;
}

protocol::Report Measurement::finish(const std::string& nonce, std::uint64_t request_id,
                                     protocol::EndReason reason, std::uint64_t samples_dropped) {
  if (!counters_) throw std::logic_error("finish() called twice");
  counters_->disable();
  protocol::Report report;
  report.duration_ns = elapsed_ns();
  auto reading = counters_->read();
  counters_.reset();  // the fds close now, not when the last owner lets go
  report.nonce = nonce;
  report.request_id = request_id;
  report.reason = reason;
  report.samples_dropped = samples_dropped;
  report.samples_sent = seq_ - std::min(seq_, samples_dropped);
  report.columns = columns_;
  report.totals = std::move(reading.totals);
  if (per_vcpu_) report.vcpus = std::move(reading.vcpus);
  return report;
}

}  // namespace perfkvm::host
