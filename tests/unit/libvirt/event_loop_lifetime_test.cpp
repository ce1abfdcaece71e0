// The process-wide side: one loop at a time, libvirt's late calls after the loop is gone,
// calls from a foreign thread.
#include <doctest/doctest.h>

#include <stdexcept>
#include <thread>

#include "loop_fixture.hpp"

using namespace perfkvm::test;
using perfkvm::host::LibvirtEventLoop;

namespace {

struct Probe : FreeCount {
  int calls = 0;
};

void on_handle(int, int, int, void* opaque) { ++static_cast<Probe*>(opaque)->calls; }
void on_timeout(int, void* opaque) { ++static_cast<Probe*>(opaque)->calls; }

}  // namespace

TEST_CASE("a second loop cannot be built while one is alive") {
  LoopFixture fixture;
  boost::asio::io_context other;
  CHECK_THROWS_AS(LibvirtEventLoop{other}, std::logic_error);
  // The failed attempt left the first loop in charge.
  Probe probe;
  const int timer = virEventAddTimeout(0, on_timeout, &probe, nullptr);
  REQUIRE(timer > 0);
  CHECK(fixture.run_until([&] { return probe.calls >= 1; }));
  CHECK(virEventRemoveTimeout(timer) == 0);
}

TEST_CASE("destroying the loop frees what is left; libvirt's later calls are harmless") {
  Pipe pipe;
  Probe watch_probe;
  Probe timer_probe;
  Probe removed_probe;
  boost::asio::io_context io;
  int watch = 0;
  int timer = 0;
  {
    LibvirtEventLoop loop(io);
    watch = virEventAddHandle(pipe.read.get(), VIR_EVENT_HANDLE_READABLE, on_handle,
                              &watch_probe, count_free<Probe>);
    timer = virEventAddTimeout(-1, on_timeout, &timer_probe, count_free<Probe>);
    const int removed = virEventAddTimeout(-1, on_timeout, &removed_probe, count_free<Probe>);
    REQUIRE(watch > 0);
    REQUIRE(timer > 0);
    REQUIRE(removed > 0);
    REQUIRE(virEventRemoveTimeout(removed) == 0);
    CHECK(removed_probe.frees == 0);  // posted, and the io_context has not run
  }
  CHECK(watch_probe.frees == 1);
  CHECK(timer_probe.frees == 1);
  CHECK(removed_probe.frees == 1);

  // What libvirt may still do, e.g. from virConnectClose, once the loop is gone.
  CHECK(virEventRemoveHandle(watch) == -1);
  CHECK(virEventRemoveTimeout(timer) == -1);
  virEventUpdateHandle(watch, VIR_EVENT_HANDLE_READABLE);
  virEventUpdateTimeout(timer, 0);
  CHECK(virEventAddTimeout(0, on_timeout, &timer_probe, count_free<Probe>) == -1);
  REQUIRE(write_byte(pipe.write.get()));
  io.run_for(30ms);  // the posted free and any stale waits must not run anything again
  CHECK(watch_probe.calls == 0);
  CHECK(timer_probe.calls == 0);
  CHECK(watch_probe.frees == 1);
  CHECK(timer_probe.frees == 1);
  CHECK(removed_probe.frees == 1);

  // A new loop takes over; the old ids are never handed out again.
  Probe fresh;
  LoopFixture fixture;
  const int new_timer = virEventAddTimeout(0, on_timeout, &fresh, nullptr);
  CHECK(new_timer > timer);
  CHECK(virEventRemoveTimeout(timer) == -1);
  CHECK(fixture.run_until([&] { return fresh.calls >= 1; }));
  CHECK(virEventRemoveTimeout(new_timer) == 0);
}

TEST_CASE("calls from a thread other than the loop's are refused") {
  Probe probe;
  LoopFixture fixture;
  int result = 0;
  std::thread foreign([&] { result = virEventAddTimeout(0, on_timeout, &probe, nullptr); });
  foreign.join();
  CHECK(result == -1);
  CHECK(fixture.loop.stats().refused_calls == 1);
  CHECK(fixture.loop.stats().timeouts == 0);
  fixture.run_for(10ms);
  CHECK(probe.calls == 0);
}
