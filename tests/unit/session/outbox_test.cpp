// The bounded outbox (outbox.hpp): each kind's bound, the bytes' bound, and the first frame.
#include "host-agent/session/outbox.hpp"

#include <doctest/doctest.h>

#include <string>

using perfkvm::host::Outbox;

TEST_CASE("outbox: samples and replies each have their bound; dropping frees their places") {
  Outbox outbox(2, 1, 1 << 20);
  CHECK(outbox.push("s1", Outbox::Kind::sample));
  CHECK(outbox.push("s2", Outbox::Kind::sample));
  CHECK(outbox.sample_queue_full());
  CHECK_FALSE(outbox.push("s3", Outbox::Kind::sample));
  CHECK(outbox.push("r1", Outbox::Kind::reply));  // replies are bounded apart from samples
  CHECK_FALSE(outbox.push("r2", Outbox::Kind::reply));
  outbox.pop_front();
  CHECK_FALSE(outbox.sample_queue_full());
  CHECK(outbox.push("s3", Outbox::Kind::sample));
  outbox.drop_all_but_front();
  CHECK(outbox.size() == 1);
  CHECK(outbox.front() == "s2");
  CHECK(outbox.queued_samples() == 1);
  CHECK(outbox.bytes() == 2);
}

TEST_CASE("outbox: the bytes queued are bounded whatever the kinds; an empty outbox takes one "
          "frame of any size") {
  Outbox outbox(64, 64, 1000);
  const std::string big(1500, 'x'), half(500, 'y');
  CHECK(outbox.push(big, Outbox::Kind::reply));  // alone: sent whatever its size
  CHECK_FALSE(outbox.push("r", Outbox::Kind::reply));
  CHECK_FALSE(outbox.push("s", Outbox::Kind::sample));
  outbox.pop_front();
  CHECK(outbox.bytes() == 0);
  CHECK(outbox.push(half, Outbox::Kind::reply));
  CHECK(outbox.push(half, Outbox::Kind::sample));
  CHECK(outbox.bytes() == 1000);
  CHECK_FALSE(outbox.push("1", Outbox::Kind::reply));  // one byte over
  CHECK(outbox.size() == 2);
}
