#include "host-agent/counters/column_plan.hpp"

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

using perfkvm::host::CounterColumn;
using perfkvm::host::plan_columns;
using perfkvm::host::plan_groups;
using perfkvm::protocol::EventInfo;
using perfkvm::protocol::Scope;
using perfkvm::protocol::StartMode;
using perfkvm::protocol::to_string;

const EventInfo* event(std::string_view name) {
  const EventInfo* found = perfkvm::protocol::find_event(name);
  REQUIRE_MESSAGE(found != nullptr, "no event " << name << " in the catalogue");
  return found;
}

// "name/scope" per column, for readable comparisons.
std::vector<std::string> describe(const std::vector<CounterColumn>& columns) {
  std::vector<std::string> out;
  for (const auto& column : columns) {
    out.push_back(std::string(column.event->name) + "/" + std::string(to_string(column.scope)));
  }
  return out;
}

}  // namespace

TEST_CASE("plan_columns: one column per event and scope, per start mode") {
  const std::vector<const EventInfo*> events{event("task-clock"), event("cycles"),
                                             event("context-switches"), event("instructions")};
  struct Case {
    StartMode mode;
    std::vector<std::string> expected;
  };
  const std::vector<Case> cases{
      {StartMode::all,
       {"task-clock/all", "cpu-cycles/all", "context-switches/all", "instructions/all"}},
      {StartMode::guest,
       {"task-clock/all", "cpu-cycles/guest", "context-switches/all", "instructions/guest"}},
      {StartMode::host,
       {"task-clock/all", "cpu-cycles/host", "context-switches/all", "instructions/host"}},
      {StartMode::both,
       {"task-clock/all", "cpu-cycles/guest", "cpu-cycles/host", "context-switches/all",
        "instructions/guest", "instructions/host"}},
  };
  for (const auto& c : cases) {
    SUBCASE(std::string(to_string(c.mode)).c_str()) {
      CHECK(describe(plan_columns(events, c.mode)) == c.expected);
    }
  }
}

TEST_CASE("plan_columns: an event named twice gives its columns twice; no events, no columns") {
  const std::vector<const EventInfo*> twice{event("cycles"), event("cpu-cycles")};
  CHECK(describe(plan_columns(twice, StartMode::both)) ==
        std::vector<std::string>{"cpu-cycles/guest", "cpu-cycles/host", "cpu-cycles/guest",
                                 "cpu-cycles/host"});
  CHECK(plan_columns({}, StartMode::all).empty());
  const std::vector<const EventInfo*> null_event{nullptr};
  CHECK_THROWS_AS(plan_columns(null_event, StartMode::all), std::invalid_argument);
}

TEST_CASE("plan_groups: software together, hardware in groups that fit the PMU") {
  const auto sw = [](std::string_view name) { return CounterColumn{event(name), Scope::all}; };
  const auto hw = [](std::string_view name, Scope scope) {
    return CounterColumn{event(name), scope};
  };
  using Groups = std::vector<std::vector<std::size_t>>;
  struct Case {
    const char* name;
    std::vector<CounterColumn> columns;
    std::size_t max_hardware;
    Groups expected;
  };
  const std::vector<Case> cases{
      {"software only", {sw("task-clock"), sw("page-faults")}, 4, {{0, 1}}},
      {"hardware only, fits",
       {hw("cycles", Scope::all), hw("instructions", Scope::all)},
       4,
       {{0, 1}}},
      {"mixed, in column order",
       {hw("cycles", Scope::guest), sw("task-clock"), hw("cycles", Scope::host), sw("cs")},
       4,
       {{1, 3}, {0, 2}}},
      {"hardware split at the limit",
       {hw("cycles", Scope::all), hw("instructions", Scope::all), hw("branches", Scope::all),
        hw("branch-misses", Scope::all), hw("cache-misses", Scope::all), sw("task-clock")},
       4,
       {{5}, {0, 1, 2, 3}, {4}}},
      {"limit of one", {hw("cycles", Scope::all), hw("instructions", Scope::all)}, 1, {{0}, {1}}},
      {"nothing", {}, 4, {}},
  };
  for (const auto& c : cases) {
    SUBCASE(c.name) { CHECK(plan_groups(c.columns, c.max_hardware) == c.expected); }
  }
  SUBCASE("a zero group size is misuse") {
    const std::vector<CounterColumn> columns{sw("task-clock")};
    CHECK_THROWS_AS(plan_groups(columns, 0), std::invalid_argument);
  }
}
