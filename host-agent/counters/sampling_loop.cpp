#include "host-agent/counters/sampling_loop.hpp"
#include "util/asio_nothrow.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <utility>

namespace perfkvm::host {

namespace {

using perfkvm::use_nothrow;

}  // namespace

boost::asio::awaitable<SamplingEnd> sample_at_intervals(
    boost::asio::steady_timer& timer, Measurement& measurement,
    std::chrono::steady_clock::duration interval, ReadingHandler on_reading, SkipReading skip,
    RowCounts rows) {
  auto deadline = measurement.started_at();
  for (;;) {
    deadline = std::max(deadline + interval, std::chrono::steady_clock::now());
    timer.expires_at(deadline);
    auto [ec] = co_await timer.async_wait(use_nothrow);
    // finished(): the owner ended the measurement while this wait was already complete.
    if (ec || measurement.finished()) co_return SamplingEnd::stopped;
    if (skip && skip()) continue;
    MeasurementReading reading = measurement.read(PresenceCheck::periodic, rows);
    const bool final_reading = reading.threads_ended();
    on_reading(std::move(reading));
    if (final_reading) co_return SamplingEnd::threads_ended;
  }
}

}  // namespace perfkvm::host
