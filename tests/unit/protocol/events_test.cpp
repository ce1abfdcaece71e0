#include <doctest/doctest.h>
#include <linux/perf_event.h>

#include <set>

#include "protocol/events.hpp"

using namespace perfkvm::protocol;

TEST_CASE("the catalogue: the seed's 17 events, cpu-migrations, the stalled cycles and perf's "
          "generic hardware cache events") {
  const auto events = event_catalogue();
  CHECK(events.size() == 38);
  std::set<std::string_view> names;
  std::size_t hardware = 0;
  std::size_t cache = 0;
  for (const auto& event : events) {
    names.insert(event.name);
    if (event.kind == EventKind::hardware) {
      ++hardware;
      CHECK((event.perf_type == PERF_TYPE_HARDWARE || event.perf_type == PERF_TYPE_HW_CACHE));
      if (event.perf_type == PERF_TYPE_HW_CACHE) ++cache;
    } else {
      CHECK(event.perf_type == PERF_TYPE_SOFTWARE);
    }
  }
  CHECK(names.size() == 38);
  CHECK(hardware == 28);
  CHECK(cache == 18);
  for (auto name : {"cpu-cycles", "instructions", "cache-references", "cache-misses", "branches",
                    "branch-misses", "bus-cycles", "ref-cycles", "cpu-clock", "task-clock",
                    "page-faults", "context-switches", "minor-faults", "major-faults",
                    "alignment-faults", "emulation-faults", "dummy", "cpu-migrations",
                    "stalled-cycles-frontend", "stalled-cycles-backend"}) {
    CAPTURE(name);
    CHECK(names.count(name) == 1);
  }
}

TEST_CASE("hardware cache events: perf's names, and its config (cache | op << 8 | result << 16)") {
  struct Case {
    const char* name;
    std::uint64_t config;
  };
  for (const Case& c : {Case{"L1-dcache-loads", 0x0}, Case{"L1-dcache-load-misses", 0x10000},
                        Case{"L1-dcache-stores", 0x100}, Case{"L1-dcache-prefetches", 0x200},
                        Case{"L1-dcache-prefetch-misses", 0x10200},
                        Case{"L1-icache-loads", 0x1}, Case{"L1-icache-load-misses", 0x10001},
                        Case{"LLC-loads", 0x2}, Case{"LLC-load-misses", 0x10002},
                        Case{"LLC-stores", 0x102}, Case{"dTLB-loads", 0x3},
                        Case{"dTLB-load-misses", 0x10003}, Case{"iTLB-loads", 0x4},
                        Case{"iTLB-load-misses", 0x10004}, Case{"branch-loads", 0x5},
                        Case{"branch-load-misses", 0x10005}}) {
    CAPTURE(c.name);
    const EventInfo* event = find_event(c.name);
    REQUIRE(event != nullptr);
    CHECK(event->perf_type == PERF_TYPE_HW_CACHE);
    CHECK(event->perf_config == c.config);
    CHECK(event->kind == EventKind::hardware);  // the PMU counts them: policy class hardware
  }
  CHECK(find_event("idle-cycles-frontend")->perf_config == PERF_COUNT_HW_STALLED_CYCLES_FRONTEND);
  CHECK(find_event("idle-cycles-backend")->name == "stalled-cycles-backend");
  CHECK(find_event("l1-dcache-loads") == nullptr);  // case-sensitive, as perf's generic names
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

TEST_CASE("perf's :G and :H on a hardware event; :u, :k and the rest refused with why") {
  const ParsedEventName guest = parse_event_name("cycles:G");
  CHECK(guest.event == find_event("cpu-cycles"));
  CHECK(guest.base == "cycles");
  CHECK(guest.modifier == EventModifier::guest);
  CHECK(guest.problem.empty());
  CHECK(parse_event_name("LLC-load-misses:H").modifier == EventModifier::host);
  const ParsedEventName plain = parse_event_name("cs");
  CHECK(plain.event == find_event("context-switches"));
  CHECK(plain.modifier == EventModifier::none);
  CHECK(plain.problem.empty());
  // Unknown before any modifier is looked at: the caller's unknown-event message.
  CHECK(parse_event_name("cyles:G").event == nullptr);
  CHECK(parse_event_name("cyles:G").problem.empty());
  for (const char* refused : {"cycles:u", "cycles:k", "cycles:uk", "cycles:Gu", "cycles:GH",
                              "cycles:pp", "cycles:", "task-clock:G", "cs:H"}) {
    CAPTURE(refused);
    const ParsedEventName parsed = parse_event_name(refused);
    CHECK(parsed.event != nullptr);
    CHECK(parsed.modifier == EventModifier::none);
    CHECK(parsed.problem.rfind("'" + std::string(refused) + "': ", 0) == 0);
  }
  CHECK(parse_event_name("cycles:k").problem.find("cannot split a guest's user and kernel time") !=
        std::string::npos);
}
