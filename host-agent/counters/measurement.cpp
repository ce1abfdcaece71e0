#include "host-agent/counters/measurement.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace perfkvm::host {

namespace {

std::vector<std::uint32_t> vcpus_of(const std::vector<VcpuThread>& threads) {
  std::vector<std::uint32_t> vcpus;
  vcpus.reserve(threads.size());
  for (const auto& thread : threads) vcpus.push_back(thread.vcpu);
  return vcpus;
}

MeasurementReading make_reading(std::uint64_t elapsed_ns, CounterReading counts) {
  return {elapsed_ns, std::move(counts.totals), std::move(counts.vcpus)};
}

}  // namespace

bool MeasurementReading::threads_ended() const {
  return !vcpus.empty() && std::all_of(vcpus.begin(), vcpus.end(), [](const auto& row) {
    return row.status == protocol::VcpuStatus::ended;
  });
}

Measurement::Measurement(std::vector<VcpuThread> threads, std::vector<CounterColumn> plan)
    : vcpus_(vcpus_of(threads)) {
  counters_.emplace(std::move(threads), std::move(plan));
  columns_ = counters_->columns();
}

void Measurement::start() {
  started_at_ = Clock::now();
  counters_->enable();
}

std::uint64_t Measurement::elapsed_ns() const {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - started_at_).count());
}

MeasurementReading Measurement::read(PresenceCheck presence, RowCounts rows) {
  if (!counters_) throw std::logic_error("Measurement::read after finish or close");
  auto counts = counters_->read(presence, rows);
  return make_reading(elapsed_ns(), std::move(counts));
}

MeasurementReading Measurement::finish() {
  if (!counters_) throw std::logic_error("Measurement::finish called twice");
  counters_->disable();
  // The run's duration ends where counting stopped, before the last read.
  const std::uint64_t duration_ns = elapsed_ns();
  auto counts = counters_->read(PresenceCheck::now);
  counters_.reset();  // the fds close now, not when the last owner lets go
  return make_reading(duration_ns, std::move(counts));
}

bool Measurement::check_threads() {
  if (!counters_) return false;
  return make_reading(elapsed_ns(), counters_->read(PresenceCheck::now, RowCounts::omitted))
      .threads_ended();
}

}  // namespace perfkvm::host
