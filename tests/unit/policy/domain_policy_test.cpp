// The model's helpers: event allow lists as `policy set --events` and the XML build them.
#include "host-agent/policy/domain_policy.hpp"

#include <doctest/doctest.h>

using namespace perfkvm::host;
using perfkvm::protocol::EventKind;

TEST_CASE("parse_event_list takes classes, names and aliases, stored canonical") {
  const EventAllowList list = parse_event_list("software, cycles,instructions");
  CHECK(list.classes == std::vector{EventKind::software});
  CHECK(list.events == std::vector<std::string>{"cpu-cycles", "instructions"});
  CHECK(describe(list) == "software, cpu-cycles, instructions");
}

TEST_CASE("parse_event_list names the bad entry") {
  CHECK_THROWS_WITH_AS(parse_event_list("software,,cycles"), "events list: entry 2 is empty",
                       PolicyError);
  CHECK_THROWS_WITH_AS(parse_event_list(""), "events list: entry 1 is empty", PolicyError);
  CHECK_THROWS_WITH_AS(parse_event_list("cycles,cpu-cycles"),
                       "events list: event 'cpu-cycles' is listed twice", PolicyError);
  CHECK_THROWS_WITH_AS(parse_event_list("hardware,hardware"),
                       "events list: class 'hardware' is listed twice", PolicyError);
  CHECK_THROWS_WITH_AS(parse_event_list("instructions,cyc"),
                       doctest::Contains("events list: 'cyc' is neither an event nor a class "
                                         "(software, hardware); events are: cpu-cycles, "),
                       PolicyError);
}
