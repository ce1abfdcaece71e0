// A region of interest and its phases, as the workload draws them (perfkvm ctl enable /
// disable / mark, -D): the host's counters run for the whole request; the guest takes a
// snapshot (protocol 2 `read`) wherever counting is switched on or off or a phase is marked,
// and adds up the differences between snapshots. Pure bookkeeping on protocol readings: no
// I/O, so that each rule has its unit test.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "protocol/messages.hpp"

namespace perfkvm::guest {

// Counts before the first mark of a run that has marks.
inline constexpr std::string_view kUnmarkedPhase = "(unmarked)";

// What the workload asked for, applied at the snapshot taken for it.
enum class ControlAction { enable, disable, mark };

class RegionOfInterest {
 public:
  // `counting_at_start`: false with -D (the command starts with counting off).
  explicit RegionOfInterest(bool counting_at_start);

  // The counting state changes at `at`, a reading of the running request (cumulative since
  // its counters were enabled). `phase` names the phase a mark starts. Enabling while
  // enabled, or disabling while disabled, changes nothing (as perf's control fd).
  void apply(ControlAction action, const protocol::Sample& at, const std::string& phase = {});

  bool counting() const { return counting_; }
  // The phase counts go to now; empty before the first mark.
  const std::string& phase() const { return phase_; }
  // False while every count of the request is also the run's: nothing to add up.
  bool shapes_the_run() const { return !counting_at_start_ || controlled_; }
  bool has_phases() const { return marked_; }

  struct Phase {
    std::string name;
    protocol::Report report;
  };
  struct Result {
    protocol::Report total;     // the counted time only; its duration is that time
    std::vector<Phase> phases;  // in the order they were first marked; none without marks
    std::uint64_t run_ns = 0;   // the whole request's duration, counted or not
  };
  // The final report `report` (the request's last reading) cut to the region of interest.
  Result finish(const protocol::Report& report) const;

 private:
  // Counts between two snapshots, added up over the spans a phase (or the total) covers.
  struct Tally {
    std::uint64_t duration_ns = 0;
    std::vector<protocol::Cell> totals;
    std::vector<protocol::VcpuCounts> vcpus;
  };
  struct Reading {
    std::uint64_t elapsed_ns = 0;
    std::vector<protocol::Cell> totals;
    std::vector<protocol::VcpuCounts> vcpus;
  };

  void close_span(const Reading& at);
  Tally& tally_of(const std::string& phase);
  static void add_span(Tally& tally, const Reading& from, const Reading& to);
  static protocol::Report report_of(const Tally& tally, const protocol::Report& like);

  bool counting_at_start_;
  bool counting_;
  bool controlled_ = false;
  bool marked_ = false;
  std::string phase_;
  Reading last_;  // where the open span began (zero: the counters' start)
  Tally total_;
  std::vector<std::pair<std::string, Tally>> phases_;
};

}  // namespace perfkvm::guest
