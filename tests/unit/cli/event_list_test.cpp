#include <doctest/doctest.h>

#include <stdexcept>

#include "cli/event_list.hpp"

using namespace perfkvm::cli;

TEST_CASE("event lists: commas, spaces, aliases as spelt") {
  CHECK(parse_event_list("task-clock,cycles") == std::vector<std::string>{"task-clock", "cycles"});
  CHECK(parse_event_list(" cs  faults,,instructions ") ==
        std::vector<std::string>{"cs", "faults", "instructions"});
}

TEST_CASE("event lists: an unknown name is an error listing the valid ones") {
  try {
    parse_event_list("task-clock,cyles");
    FAIL("no error");
  } catch (const std::invalid_argument& error) {
    const std::string message = error.what();
    CHECK(message.rfind("unknown event 'cyles'; valid events: cpu-cycles, instructions,", 0) == 0);
    CHECK(message.find("task-clock") != std::string::npos);
  }
  CHECK_THROWS_AS(parse_event_list(" , "), std::invalid_argument);
}

TEST_CASE("the default events are perf stat's") {
  const auto events = default_events();
  CHECK(events.front() == "task-clock");
  CHECK(parse_event_list("task-clock,context-switches,cpu-migrations,page-faults,cycles,"
                         "instructions,branches,branch-misses") == events);
}

TEST_CASE("vCPU lists") {
  struct Case {
    const char* text;
    std::vector<std::uint32_t> expected;
  };
  for (const auto& c : {Case{"0", {0}}, Case{"0,2-3", {0, 2, 3}}, Case{"3,1,1-2", {1, 2, 3}},
                        Case{"4095", {4095}}}) {
    CAPTURE(c.text);
    CHECK(parse_vcpu_list(c.text) == c.expected);
  }
  struct Bad {
    const char* text;
    const char* message;
  };
  for (const auto& b :
       {Bad{"", "empty vCPU list"},
        Bad{"a", "invalid vCPU list 'a': 'a' is not a vCPU index from 0 to 4095"},
        Bad{"3-1", "invalid vCPU list '3-1': range '3-1' runs backwards"},
        Bad{"1-", "invalid vCPU list '1-': '' is not a vCPU index from 0 to 4095"},
        Bad{"-1", "invalid vCPU list '-1': '' is not a vCPU index from 0 to 4095"},
        Bad{"4096", "invalid vCPU list '4096': '4096' is not a vCPU index from 0 to 4095"}}) {
    CAPTURE(b.text);
    try {
      parse_vcpu_list(b.text);
      FAIL("no error");
    } catch (const std::invalid_argument& error) {
      CHECK(std::string(error.what()) == b.message);
    }
  }
}
