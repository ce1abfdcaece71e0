// Interval readings of a measurement, as guest sessions (samples) and `perfkvm-host stat -I`
// (interval lines) both take them: one loop, so that both keep the same cadence and both end
// when the counted threads do.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>

#include "host-agent/counters/measurement.hpp"

namespace perfkvm::host {

enum class SamplingEnd {
  threads_ended,  // every counted thread has exited; the last reading handed over is final
  stopped,        // the timer was cancelled, or the measurement finished or closed meanwhile
};

using ReadingHandler = std::function<void(MeasurementReading)>;
// Asked when a reading is due: true when it would only be thrown away (a guest whose sample
// queue is full), so that the loop skips it rather than read the counters for nothing; the
// caller counts what it skips.
using SkipReading = std::function<bool()>;

// Reads `measurement` (started) every `interval` and hands each reading to `on_reading`.
// The cadence is fixed from the start: reading n is due at started_at + n x interval. A reading
// that comes late (a busy io_context, a slow handler) is taken at once, and the next is due an
// interval after that: missed readings are not made up with a burst, which would report
// intervals of nearly no time. Waits on `timer`. To stop the loop, cancel the timer (while the
// loop waits: from elsewhere on the executor) or finish or close the measurement (from
// anywhere, on_reading included). `timer` and `measurement` must outlive the loop. What
// on_reading throws ends the loop and is thrown to the caller. `skip` (optional) is asked before
// each reading. `rows`: whether the readings' rows carry their counts (omitted for a caller
// that uses only the totals; the rows' statuses are always there).
boost::asio::awaitable<SamplingEnd> sample_at_intervals(
    boost::asio::steady_timer& timer, Measurement& measurement,
    std::chrono::steady_clock::duration interval, ReadingHandler on_reading,
    SkipReading skip = {}, RowCounts rows = RowCounts::included);

}  // namespace perfkvm::host
