#include "host-agent/session/counting_request.hpp"

#include <algorithm>
#include <utility>

namespace perfkvm::host {

namespace {

std::uint64_t wall_clock_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

}  // namespace

CountingRequest::CountingRequest(boost::asio::any_io_executor executor,
                                 const protocol::Start& start, Measurement measurement,
                                 Shares shares, std::uint32_t reads_per_second)
    : start_(start),
      interval_(start.interval_ms ? std::optional(std::chrono::milliseconds(*start.interval_ms))
                                  : std::nullopt),
      per_vcpu_(start.per_vcpu),
      measurement_(std::move(measurement)),
      timer_(std::move(executor)),
      shares_(std::move(shares)),
      reads_(reads_per_second) {}

protocol::Sample CountingRequest::sample(const std::string& nonce, MeasurementReading reading) {
  protocol::Sample sample;
  sample.nonce = nonce;
  sample.request_id = id();
  sample.seq = ++samples_taken_;
  sample.elapsed_ns = reading.elapsed_ns;
  sample.host_time_ns = wall_clock_ns();
  sample.totals = std::move(reading.totals);
  if (per_vcpu_) sample.vcpus = std::move(reading.vcpus);
  return sample;
}

std::chrono::milliseconds CountingRequest::read_delay(
    std::chrono::steady_clock::time_point now) const {
  // Rounded up: a guest that waits what it is told is within the pace.
  return std::chrono::ceil<std::chrono::milliseconds>(reads_.delay(now));
}

protocol::Sample CountingRequest::read_answer(const std::string& nonce, MeasurementReading reading,
                                              std::uint64_t read_id,
                                              std::chrono::steady_clock::time_point now) {
  reads_.record(now);
  const std::uint64_t seq = samples_taken_;
  protocol::Sample answer = sample(nonce, std::move(reading));
  samples_taken_ = seq;
  answer.seq = seq;
  answer.read_id = read_id;
  return answer;
}

protocol::Report CountingRequest::finish(const std::string& nonce, protocol::EndReason reason) {
  timer_.cancel();
  MeasurementReading reading = measurement_.finish();
  shares_ = {};  // its counters are closed
  protocol::Report report;
  report.nonce = nonce;
  report.request_id = id();
  report.reason = reason;
  report.duration_ns = reading.elapsed_ns;
  report.samples_dropped = samples_dropped_;
  report.samples_sent = samples_taken_ - std::min(samples_taken_, samples_dropped_);
  report.columns = measurement_.columns();
  report.totals = std::move(reading.totals);
  if (per_vcpu_) report.vcpus = std::move(reading.vcpus);
  return report;
}

void CountingRequest::close() {
  timer_.cancel();
  measurement_.close();  // now: the sampler may hold the request a moment longer
  shares_ = {};
}

}  // namespace perfkvm::host
