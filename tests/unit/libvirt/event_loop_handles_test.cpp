// fd watches, driven through libvirt's public virEvent*Handle API, which calls the loop.
#include <doctest/doctest.h>
#include <sys/socket.h>

#include "loop_fixture.hpp"

using namespace perfkvm::test;
using perfkvm::UniqueFd;

namespace {

struct HandleProbe : FreeCount {
  int calls = 0;
  int watch = 0;
  int fd = -1;
  int events = 0;  // of the latest call
  bool remove_in_callback = false;
  int remove_result = 1;
  int frees_right_after_remove = -1;
};

void on_handle(int watch, int fd, int events, void* opaque) {
  auto& probe = *static_cast<HandleProbe*>(opaque);
  ++probe.calls;
  probe.watch = watch;
  probe.fd = fd;
  probe.events = events;
  if (probe.remove_in_callback) {
    probe.remove_result = virEventRemoveHandle(watch);
    probe.frees_right_after_remove = probe.frees;
  }
}

int add_watch(int fd, int events, HandleProbe& probe) {
  return virEventAddHandle(fd, events, on_handle, &probe, count_free<HandleProbe>);
}

}  // namespace

TEST_CASE("a readable pipe runs the watch callback on the io_context, level-triggered") {
  Pipe pipe;
  HandleProbe probe;
  LoopFixture fixture;
  const int watch = add_watch(pipe.read.get(), VIR_EVENT_HANDLE_READABLE, probe);
  REQUIRE(watch > 0);
  CHECK(fixture.loop.stats().watches == 1);

  fixture.run_for(30ms);
  CHECK(probe.calls == 0);  // empty pipe

  REQUIRE(write_byte(pipe.write.get()));
  CHECK(probe.calls == 0);  // nothing runs outside the io_context
  REQUIRE(fixture.run_until([&] { return probe.calls >= 1; }));
  CHECK(probe.watch == watch);
  CHECK(probe.fd == pipe.read.get());
  CHECK(probe.events == VIR_EVENT_HANDLE_READABLE);

  // The byte was never read: like poll(), the loop keeps reporting it.
  REQUIRE(fixture.run_until([&] { return probe.calls >= 3; }));

  SUBCASE("updating the events to 0 stops the callbacks, re-enabling resumes them") {
    virEventUpdateHandle(watch, 0);
    const int calls = probe.calls;
    REQUIRE(write_byte(pipe.write.get()));
    fixture.run_for(60ms);
    CHECK(probe.calls == calls);
    // The data arrived while disabled, so no new edge will come: readiness must still be seen.
    virEventUpdateHandle(watch, VIR_EVENT_HANDLE_READABLE);
    CHECK(fixture.run_until([&] { return probe.calls > calls; }));
    CHECK(probe.events == VIR_EVENT_HANDLE_READABLE);
  }

  SUBCASE("removing frees the opaque data later, from the io_context") {
    CHECK(virEventRemoveHandle(watch) == 0);
    CHECK(probe.frees == 0);  // libvirt may hold its own locks inside remove
    CHECK(fixture.loop.stats().watches == 0);
    const int calls = probe.calls;
    REQUIRE(fixture.run_until([&] { return probe.frees == 1; }));
    fixture.run_for(30ms);
    CHECK(probe.calls == calls);
    CHECK(probe.frees == 1);
    CHECK(virEventRemoveHandle(watch) == -1);
  }
}

TEST_CASE("a watch may remove itself inside its own callback") {
  Pipe pipe;
  HandleProbe probe;
  probe.remove_in_callback = true;
  LoopFixture fixture;
  const int watch = add_watch(pipe.read.get(), VIR_EVENT_HANDLE_READABLE, probe);
  REQUIRE(watch > 0);
  REQUIRE(write_byte(pipe.write.get()));
  REQUIRE(fixture.run_until([&] { return probe.calls == 1; }));
  CHECK(probe.remove_result == 0);
  CHECK(probe.frees_right_after_remove == 0);
  REQUIRE(fixture.run_until([&] { return probe.frees == 1; }));
  REQUIRE(write_byte(pipe.write.get()));
  fixture.run_for(50ms);
  CHECK(probe.calls == 1);  // the pipe is still readable, but nobody watches it
}

TEST_CASE("the callback gets the events that occurred") {
  Pipe pipe;
  HandleProbe probe;
  LoopFixture fixture;

  SUBCASE("WRITABLE on a pipe with room") {
    REQUIRE(add_watch(pipe.write.get(), VIR_EVENT_HANDLE_WRITABLE, probe) > 0);
    REQUIRE(fixture.run_until([&] { return probe.calls >= 1; }));
    CHECK(probe.events == VIR_EVENT_HANDLE_WRITABLE);
  }
  SUBCASE("HANGUP when the writer closes, even on a watch for READABLE only") {
    REQUIRE(add_watch(pipe.read.get(), VIR_EVENT_HANDLE_READABLE, probe) > 0);
    fixture.run_for(20ms);
    CHECK(probe.calls == 0);
    pipe.write.reset();
    REQUIRE(fixture.run_until([&] { return probe.calls >= 1; }));
    CHECK((probe.events & VIR_EVENT_HANDLE_HANGUP) != 0);
    CHECK((probe.events & VIR_EVENT_HANDLE_WRITABLE) == 0);
  }
  SUBCASE("HANGUP on a watch for ERROR|HANGUP only") {
    REQUIRE(add_watch(pipe.read.get(), VIR_EVENT_HANDLE_ERROR | VIR_EVENT_HANDLE_HANGUP,
                      probe) > 0);
    REQUIRE(write_byte(pipe.write.get()));
    fixture.run_for(30ms);
    CHECK(probe.calls == 0);  // readable, but READABLE was not asked for
    pipe.write.reset();
    REQUIRE(fixture.run_until([&] { return probe.calls >= 1; }));
    CHECK(probe.events == VIR_EVENT_HANDLE_HANGUP);
  }
}

TEST_CASE("a watch for both directions gets both in one callback") {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
  const UniqueFd ours(fds[0]);
  const UniqueFd peer(fds[1]);
  HandleProbe probe;
  LoopFixture fixture;
  const int watch =
      add_watch(ours.get(), VIR_EVENT_HANDLE_READABLE | VIR_EVENT_HANDLE_WRITABLE, probe);
  REQUIRE(watch > 0);
  REQUIRE(fixture.run_until([&] { return probe.calls >= 1; }));
  CHECK(probe.events == VIR_EVENT_HANDLE_WRITABLE);  // nothing to read yet

  REQUIRE(write_byte(peer.get()));
  const int calls = probe.calls;
  REQUIRE(fixture.run_until([&] { return probe.calls > calls; }));
  CHECK(probe.events == (VIR_EVENT_HANDLE_READABLE | VIR_EVENT_HANDLE_WRITABLE));
  CHECK(virEventRemoveHandle(watch) == 0);
}

TEST_CASE("one fd may carry two watches with disjoint events") {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
  const UniqueFd ours(fds[0]);
  const UniqueFd peer(fds[1]);
  HandleProbe reader;
  HandleProbe writer;
  LoopFixture fixture;
  const int read_watch = add_watch(ours.get(), VIR_EVENT_HANDLE_READABLE, reader);
  const int write_watch = add_watch(ours.get(), VIR_EVENT_HANDLE_WRITABLE, writer);
  REQUIRE(read_watch > 0);
  REQUIRE(write_watch > 0);
  CHECK(read_watch != write_watch);

  REQUIRE(fixture.run_until([&] { return writer.calls >= 1; }));
  CHECK(writer.events == VIR_EVENT_HANDLE_WRITABLE);
  CHECK(writer.fd == ours.get());  // libvirt's fd, even though the loop waits on a duplicate
  CHECK(reader.calls == 0);
  REQUIRE(write_byte(peer.get()));
  REQUIRE(fixture.run_until([&] { return reader.calls >= 1; }));
  CHECK(reader.events == VIR_EVENT_HANDLE_READABLE);

  CHECK(virEventRemoveHandle(write_watch) == 0);
  CHECK(virEventRemoveHandle(read_watch) == 0);
  REQUIRE(fixture.run_until([&] { return reader.frees == 1 && writer.frees == 1; }));

  // Both registrations are gone from epoll: the fd can be watched afresh.
  HandleProbe again;
  const int watch = add_watch(ours.get(), VIR_EVENT_HANDLE_READABLE, again);
  REQUIRE(watch > 0);
  CHECK(fixture.run_until([&] { return again.calls >= 1; }));
  CHECK(virEventRemoveHandle(watch) == 0);
}

TEST_CASE("adding a watch on an invalid fd fails with -1") {
  HandleProbe probe;
  LoopFixture fixture;
  CHECK(add_watch(-1, VIR_EVENT_HANDLE_READABLE, probe) == -1);
  Pipe pipe;
  // Asio opens its epoll fds on first use; have them open before freeing a number to test.
  HandleProbe writable;
  const int watch = add_watch(pipe.write.get(), VIR_EVENT_HANDLE_WRITABLE, writable);
  REQUIRE(watch > 0);
  const int closed_fd = pipe.read.get();
  pipe.read.reset();
  CHECK(add_watch(closed_fd, VIR_EVENT_HANDLE_READABLE, probe) == -1);
  CHECK(fixture.loop.stats().watches == 1);
  CHECK(virEventRemoveHandle(watch) == 0);
  fixture.run_for(10ms);
  CHECK(probe.frees == 0);  // a failed add leaves the opaque data to the caller
}
