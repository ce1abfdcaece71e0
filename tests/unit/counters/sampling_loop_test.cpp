// sample_at_intervals on a steady_timer of a real io_context, reading a Measurement of real
// threads of this process (task-clock, which every Linux host counts). Times are checked only
// in the direction a loaded host cannot break: a timer may fire late, never early, and a
// handler that takes long makes a drifting loop later still.
#include "host-agent/counters/sampling_loop.hpp"

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "tests/support/vcpu_thread.hpp"

namespace {

using namespace std::chrono_literals;
using perfkvm::host::Measurement;
using perfkvm::host::MeasurementReading;
using perfkvm::host::plan_named_columns;
using perfkvm::host::ReadingHandler;
using perfkvm::host::sample_at_intervals;
using perfkvm::host::SamplingEnd;
using perfkvm::host::VcpuThread;
using perfkvm::protocol::StartMode;
using perfkvm::protocol::VcpuStatus;
using Clock = std::chrono::steady_clock;

Measurement task_clock_on(const std::vector<const perfkvm::test::VcpuThread*>& threads) {
  std::vector<VcpuThread> targets;
  for (std::uint32_t i = 0; i < threads.size(); ++i) targets.push_back({i, threads[i]->tid()});
  const std::vector<std::string> events{"task-clock"};
  return Measurement(std::move(targets), plan_named_columns(events, StartMode::all));
}

// Runs the loop on `io` until it ends or `limit` passes; what it returned, if it ended.
struct LoopRun {
  std::optional<SamplingEnd> end;
  std::exception_ptr failure;
};

void spawn_loop(boost::asio::io_context& io, boost::asio::steady_timer& timer,
                Measurement& measurement, Clock::duration interval, ReadingHandler handler,
                LoopRun& run) {
  boost::asio::co_spawn(io, sample_at_intervals(timer, measurement, interval, std::move(handler)),
                        [&run](std::exception_ptr failure, SamplingEnd end) {
                          run.failure = failure;
                          if (!failure) run.end = end;
                        });
}

std::chrono::milliseconds ms_of(std::uint64_t ns) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::nanoseconds(ns));
}

}  // namespace

TEST_CASE("sampling: the cadence is fixed from the start, whatever the handler takes") {
  perfkvm::test::VcpuThread vcpu("CPU 0/KVM");
  Measurement measurement = task_clock_on({&vcpu});
  boost::asio::io_context io;
  boost::asio::steady_timer timer(io);
  constexpr auto kInterval = 30ms;
  constexpr auto kHandlerTime = 20ms;  // a slow formatter, on the loop's own thread
  constexpr std::size_t kReadings = 8;
  std::vector<std::uint64_t> elapsed;
  LoopRun run;
  measurement.start();
  spawn_loop(io, timer, measurement, kInterval, [&](MeasurementReading reading) {
    elapsed.push_back(reading.elapsed_ns);
    std::this_thread::sleep_for(kHandlerTime);
    if (elapsed.size() == kReadings) measurement.close();  // as a session's stop would
  }, run);
  io.run_for(10s);
  REQUIRE(run.end == SamplingEnd::stopped);
  REQUIRE(elapsed.size() == kReadings);
  for (std::size_t k = 0; k < kReadings; ++k) {
    CAPTURE(k);
    CHECK(ms_of(elapsed[k]) >= (k + 1) * kInterval);  // reading n is due at n x interval
  }
  // Timed from the start, reading 8 is due at 240 ms; timed from the end of each handler it
  // could not come before 8 x 30 + 7 x 20 = 380 ms.
  MESSAGE("reading " << kReadings << " at " << ms_of(elapsed.back()).count() << " ms");
  CHECK(ms_of(elapsed.back()) < kReadings * kInterval + (kReadings - 1) * kHandlerTime);
}

TEST_CASE("sampling: a late reading is taken at once, and the missed ones are not made up") {
  perfkvm::test::VcpuThread vcpu("CPU 0/KVM");
  Measurement measurement = task_clock_on({&vcpu});
  boost::asio::io_context io;
  boost::asio::steady_timer timer(io);
  constexpr auto kInterval = 20ms;
  constexpr auto kStall = 200ms;  // ten intervals, once
  constexpr auto kRun = 400ms;
  std::vector<std::uint64_t> elapsed;
  LoopRun run;
  measurement.start();
  spawn_loop(io, timer, measurement, kInterval, [&](MeasurementReading reading) {
    elapsed.push_back(reading.elapsed_ns);
    if (elapsed.size() == 1) std::this_thread::sleep_for(kStall);
  }, run);
  boost::asio::steady_timer stop(io);
  stop.expires_at(measurement.started_at() + kRun);
  // Closed as well as cancelled: when both timers come due in the same turn, the cancel finds
  // no wait pending (the loop's has completed), and only finished() stops the loop.
  stop.async_wait([&](boost::system::error_code) {
    measurement.close();
    timer.cancel();
  });
  io.run_for(10s);
  REQUIRE(run.end == SamplingEnd::stopped);
  std::string times;
  for (const auto ns : elapsed) times += std::to_string(ms_of(ns).count()) + " ";
  MESSAGE("readings at (ms): " << times);
  // Without catch-up: 20, then 220 at once, then every 20 ms to 400: 11. Catching up would
  // add the nine missed at 220 in a burst (intervals of no time): 20.
  CHECK(elapsed.size() >= 5);
  CHECK(elapsed.size() <= 13);
  REQUIRE(elapsed.size() >= 2);
  CHECK(ms_of(elapsed[1]) >= kStall);  // the reading after the stall, not one before it
}

TEST_CASE("sampling: the loop ends when every counted thread has ended, not before") {
  auto leaving_first = std::make_unique<perfkvm::test::VcpuThread>("CPU 0/KVM");
  auto leaving_last = std::make_unique<perfkvm::test::VcpuThread>("CPU 1/KVM");
  Measurement measurement = task_clock_on({leaving_first.get(), leaving_last.get()});
  boost::asio::io_context io;
  boost::asio::steady_timer timer(io);
  std::vector<MeasurementReading> readings;
  LoopRun run;
  measurement.start();
  spawn_loop(io, timer, measurement, 20ms,
             [&](MeasurementReading reading) { readings.push_back(std::move(reading)); }, run);

  leaving_first.reset();
  // Exits are noticed within the presence check period (1 s): well past it, vCPU 0 has ended
  // and the loop goes on for vCPU 1.
  io.run_for(perfkvm::host::CounterSet::kPresenceCheckPeriod + 800ms);
  CHECK_FALSE(run.end.has_value());
  REQUIRE_FALSE(readings.empty());
  REQUIRE(readings.back().vcpus.size() == 2);
  CHECK(readings.back().vcpus[0].status == VcpuStatus::ended);
  CHECK(readings.back().vcpus[1].status == VcpuStatus::running);

  leaving_last.reset();
  const auto last_left = Clock::now();
  while (!run.end && !run.failure && Clock::now() - last_left < 10s) io.run_for(50ms);
  REQUIRE_FALSE(run.failure);
  REQUIRE(run.end == SamplingEnd::threads_ended);
  MESSAGE("ended " << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() -
                                                                             last_left)
                          .count()
                   << " ms after the last thread");
  // The last reading handed over is the final one: every row ended.
  CHECK(readings.back().threads_ended());
  const std::size_t count = readings.size();
  io.run_for(100ms);
  CHECK(readings.size() == count);
  CHECK(measurement.open_fd_count() == 0);  // an ended thread's counters are closed
}

TEST_CASE("sampling: a measurement finished under the loop stops it, without another read") {
  perfkvm::test::VcpuThread vcpu("CPU 0/KVM");
  Measurement measurement = task_clock_on({&vcpu});
  boost::asio::io_context io;
  boost::asio::steady_timer timer(io);
  std::size_t readings = 0;
  LoopRun run;
  measurement.start();
  // A session's stop finishes the request between two readings; here the third reading does.
  spawn_loop(io, timer, measurement, 10ms, [&](MeasurementReading) {
    if (++readings == 3) measurement.finish();
  }, run);
  io.run_for(5s);
  CHECK_FALSE(run.failure);  // a read after finish() would throw
  CHECK(run.end == SamplingEnd::stopped);
  CHECK(readings == 3);
}
