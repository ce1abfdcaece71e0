// Parsing of the command-line lists shared by perfkvm (guest) and perfkvm-host stat:
// -e EVENTS and --vcpu LIST. Errors are std::invalid_argument with a message for the user.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace perfkvm::cli {

// "task-clock,cycles" or "task-clock cycles" (several -e options are joined by the caller
// with commas). Names and aliases from the event catalogue, kept as the user spelt them
// (perf prints "cycles" for -e cycles). Unknown name: the error lists the valid ones.
std::vector<std::string> parse_event_list(std::string_view text);

// The values of several -e options, each a list as above.
std::vector<std::string> parse_event_args(const std::vector<std::string>& args);

// perf stat's default set: software events, then the common hardware ones.
std::vector<std::string> default_events();

// What perf stat's -d (level 1), -dd (2) and -ddd (3) append to the events: the L1 data and
// last-level caches; then the instruction cache and the TLBs; then the L1 prefetches.
// Level 0: none. Levels above 3 are 3, as in perf.
std::vector<std::string> detailed_events(unsigned level);

// "0,2-3" -> {0, 2, 3}: 0-based vCPU indexes, ascending, each once.
std::vector<std::uint32_t> parse_vcpu_list(std::string_view text);

}  // namespace perfkvm::cli
