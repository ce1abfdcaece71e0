// The lease rules of PROTOCOL.md §6.3 (guest_lease.hpp), one test case each.
#include <doctest/doctest.h>

#include "host-agent/session/guest_lease.hpp"

using namespace std::chrono_literals;
using perfkvm::host::DomainPause;
using perfkvm::host::lease_expired;
using perfkvm::host::LeaseClock;

namespace {
const auto t0 = LeaseClock::time_point{} + 100s;
}

TEST_CASE("lease: a guest silent for longer than the lease has gone; at the lease it has not") {
  const DomainPause running;
  CHECK_FALSE(lease_expired(t0, t0 + 2000ms, 2000ms, running));
  CHECK(lease_expired(t0, t0 + 2001ms, 2000ms, running));
}

TEST_CASE("lease: held for as long as the domain is paused, however long that is") {
  DomainPause pause;
  REQUIRE(pause.set(true, t0 + 500ms));
  CHECK_FALSE(lease_expired(t0, t0 + 1h, 2000ms, pause));
}

TEST_CASE("lease: after a resume the guest has a whole lease again, whatever it said before") {
  DomainPause pause;
  REQUIRE(pause.set(true, t0 + 1500ms));
  REQUIRE(pause.set(false, t0 + 10s));
  CHECK(pause.resumed_at == t0 + 10s);
  CHECK_FALSE(lease_expired(t0, t0 + 12s, 2000ms, pause));
  CHECK(lease_expired(t0, t0 + 12001ms, 2000ms, pause));
  // A guest heard after the resume is measured from then, as always.
  CHECK_FALSE(lease_expired(t0 + 11s, t0 + 12500ms, 2000ms, pause));
}

TEST_CASE("lease: a state reported again is no change (libvirt re-reads repeat it)") {
  DomainPause pause;
  CHECK_FALSE(pause.set(false, t0));
  CHECK(pause.resumed_at == LeaseClock::time_point{});
  CHECK(pause.set(true, t0));
  CHECK_FALSE(pause.set(true, t0 + 1s));
  CHECK(pause.set(false, t0 + 2s));
  CHECK_FALSE(pause.set(false, t0 + 3s));
  CHECK(pause.resumed_at == t0 + 2s);
}
