// Timeouts, driven through libvirt's public virEvent*Timeout API, which calls the loop.
#include <doctest/doctest.h>

#include <boost/asio/post.hpp>

#include "loop_fixture.hpp"

using namespace perfkvm::test;

namespace {

struct TimeoutProbe : FreeCount {
  int calls = 0;
  int timer = 0;
  bool remove_in_callback = false;
};

void on_timeout(int timer, void* opaque) {
  auto& probe = *static_cast<TimeoutProbe*>(opaque);
  ++probe.calls;
  probe.timer = timer;
  if (probe.remove_in_callback) virEventRemoveTimeout(timer);
}

int add_timeout(int frequency, TimeoutProbe& probe) {
  return virEventAddTimeout(frequency, on_timeout, &probe, count_free<TimeoutProbe>);
}

}  // namespace

TEST_CASE("a timeout of N ms fires about every N ms") {
  TimeoutProbe probe;
  LoopFixture fixture;
  constexpr int period_ms = 20;
  const int timer = add_timeout(period_ms, probe);
  REQUIRE(timer > 0);
  fixture.run_for(std::chrono::milliseconds(10 * period_ms));
  // At most one firing per period; at least a few despite a loaded machine.
  CHECK(probe.calls >= 3);
  CHECK(probe.calls <= 11);
  CHECK(probe.timer == timer);
  CHECK(virEventRemoveTimeout(timer) == 0);
}

TEST_CASE("a timeout of 0 fires on every iteration without starving other work") {
  TimeoutProbe probe;
  LoopFixture fixture;
  const int timer = add_timeout(0, probe);
  REQUIRE(timer > 0);

  int calls_when_posted_ran = -1;
  boost::asio::post(fixture.io, [&] { calls_when_posted_ran = probe.calls; });
  for (int i = 0; i < 20; ++i) fixture.io.run_one();
  CHECK(calls_when_posted_ran >= 0);
  CHECK(calls_when_posted_ran <= 2);
  CHECK(probe.calls >= 10);

  // I/O is still served while the timeout keeps the loop busy.
  Pipe pipe;
  int reads = 0;
  const int watch = virEventAddHandle(
      pipe.read.get(), VIR_EVENT_HANDLE_READABLE,
      [](int, int, int, void* opaque) { ++*static_cast<int*>(opaque); }, &reads, nullptr);
  REQUIRE(watch > 0);
  REQUIRE(write_byte(pipe.write.get()));
  CHECK(fixture.run_until([&] { return reads >= 1; }));
  CHECK(virEventRemoveHandle(watch) == 0);
  CHECK(virEventRemoveTimeout(timer) == 0);
}

TEST_CASE("a timeout of -1 never fires until updated; updating changes the period") {
  TimeoutProbe probe;
  LoopFixture fixture;
  const int timer = add_timeout(-1, probe);
  REQUIRE(timer > 0);
  fixture.run_for(60ms);
  CHECK(probe.calls == 0);

  virEventUpdateTimeout(timer, 10);
  REQUIRE(fixture.run_until([&] { return probe.calls >= 3; }, 2s));

  virEventUpdateTimeout(timer, -1);
  int calls = probe.calls;
  fixture.run_for(60ms);
  CHECK(probe.calls == calls);

  virEventUpdateTimeout(timer, 10'000);
  fixture.run_for(60ms);
  CHECK(probe.calls == calls);

  virEventUpdateTimeout(timer, 10);
  CHECK(fixture.run_until([&] { return probe.calls >= calls + 3; }, 2s));

  virEventUpdateTimeout(timer, 10'000);
  calls = probe.calls;
  fixture.run_for(60ms);
  CHECK(probe.calls == calls);
  CHECK(virEventRemoveTimeout(timer) == 0);
}

TEST_CASE("removing a timeout stops it and frees its data later, from the io_context") {
  TimeoutProbe probe;
  LoopFixture fixture;
  const int timer = add_timeout(5, probe);
  REQUIRE(timer > 0);
  REQUIRE(fixture.run_until([&] { return probe.calls >= 1; }));
  CHECK(fixture.loop.stats().timeouts == 1);

  CHECK(virEventRemoveTimeout(timer) == 0);
  CHECK(probe.frees == 0);
  CHECK(fixture.loop.stats().timeouts == 0);
  const int calls = probe.calls;
  REQUIRE(fixture.run_until([&] { return probe.frees == 1; }));
  fixture.run_for(30ms);
  CHECK(probe.calls == calls);
  CHECK(probe.frees == 1);
  CHECK(virEventRemoveTimeout(timer) == -1);
  virEventUpdateTimeout(timer, 0);  // a stale id is ignored
  fixture.run_for(10ms);
  CHECK(probe.calls == calls);
}

TEST_CASE("a timeout may remove itself inside its own callback") {
  TimeoutProbe probe;
  probe.remove_in_callback = true;
  LoopFixture fixture;
  REQUIRE(add_timeout(0, probe) > 0);
  REQUIRE(fixture.run_until([&] { return probe.frees == 1; }));
  fixture.run_for(20ms);
  CHECK(probe.calls == 1);
}
