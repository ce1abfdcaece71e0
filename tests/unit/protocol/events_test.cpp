#include <doctest/doctest.h>
#include <linux/perf_event.h>

#include <set>

#include "protocol/events.hpp"

using namespace perfkvm::protocol;

TEST_CASE("the catalogue holds the seed's 17 events plus cpu-migrations") {
  const auto events = event_catalogue();
  CHECK(events.size() == 18);
  std::set<std::string_view> names;
  std::size_t hardware = 0;
  for (const auto& event : events) {
    names.insert(event.name);
    if (event.kind == EventKind::hardware) {
      ++hardware;
      CHECK(event.perf_type == PERF_TYPE_HARDWARE);
    } else {
      CHECK(event.perf_type == PERF_TYPE_SOFTWARE);
    }
  }
  CHECK(names.size() == 18);
  CHECK(hardware == 8);
  for (auto name : {"cpu-cycles", "instructions", "cache-references", "cache-misses", "branches",
                    "branch-misses", "bus-cycles", "ref-cycles", "cpu-clock", "task-clock",
                    "page-faults", "context-switches", "minor-faults", "major-faults",
                    "alignment-faults", "emulation-faults", "dummy", "cpu-migrations"}) {
    CAPTURE(name);
    CHECK(names.count(name) == 1);
  }
}

TEST_CASE("aliases resolve to their canonical event, as in perf") {
  struct Case {
    const char* alias;
    const char* canonical;
    std::uint64_t config;
  };
  for (const auto& c : {Case{"cycles", "cpu-cycles", PERF_COUNT_HW_CPU_CYCLES},
                        Case{"branch-instructions", "branches", PERF_COUNT_HW_BRANCH_INSTRUCTIONS},
                        Case{"faults", "page-faults", PERF_COUNT_SW_PAGE_FAULTS},
                        Case{"cs", "context-switches", PERF_COUNT_SW_CONTEXT_SWITCHES},
                        Case{"task-clock", "task-clock", PERF_COUNT_SW_TASK_CLOCK}}) {
    CAPTURE(c.alias);
    const auto* event = find_event(c.alias);
    REQUIRE(event != nullptr);
    CHECK(event->name == c.canonical);
    CHECK(event->perf_config == c.config);
  }
  CHECK(find_event("") == nullptr);
  CHECK(find_event("Cycles") == nullptr);
  CHECK(find_event("cycles:u") == nullptr);
}

TEST_CASE("the list of valid names starts with the hardware events") {
  CHECK(event_names_list().rfind("cpu-cycles, instructions, ", 0) == 0);
  CHECK(event_names_list().find("cpu-migrations") != std::string::npos);
}
