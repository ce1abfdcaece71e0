// Parsing of the command-line lists shared by perfkvm (guest) and perfkvm-host stat:
// -e EVENTS and --vcpu LIST. Errors are std::invalid_argument with a message for the user.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/messages.hpp"

namespace perfkvm::cli {

// "task-clock,cycles" or "task-clock cycles" (several -e options are joined by the caller
// with commas). Names and aliases from the event catalogue, kept as the user spelt them
// (perf prints "cycles" for -e cycles). Unknown name: the error lists the valid ones.
std::vector<std::string> parse_event_list(std::string_view text);

// perf stat's default set: software events, then the common hardware ones.
std::vector<std::string> default_events();

// --mode for hardware events, as users of both CLIs write it: "guest" (guest code only),
// "host" (the host side only), "all" (both, in two columns: guest and host; "both" is
// accepted too). Without --mode: one column counting guest and host time together.
protocol::StartMode parse_mode(std::string_view text);
inline constexpr const char* kModeHelp =
    "hardware events: guest (guest code only), host\n"
    "(the host side only), all (a guest and a host\n"
    "column); default: one column with both";

// "0,2-3" -> {0, 2, 3}: 0-based vCPU indexes, ascending, each once.
std::vector<std::uint32_t> parse_vcpu_list(std::string_view text);

}  // namespace perfkvm::cli
