// Leveled logging to stderr for the daemons: "perfkvm-hostd[pid]: warning: domain 'x': ...".
// One line per call; the daemon runs on one thread, so no locking is needed.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "util/printable.hpp"

namespace perfkvm::log {

enum class Level { error = 0, warning = 1, info = 2, debug = 3 };

void set_program(std::string_view name);
void set_level(Level level);
Level level();
bool enabled(Level level);

void write(Level level, std::string_view message);

// Text from a guest in a log line (util/printable.hpp: it cannot forge lines), at most
// `max_bytes`.
inline std::string printable(std::string_view text, std::size_t max_bytes = 200) {
  return perfkvm::printable(text, max_bytes);
}

inline void error(std::string_view message) { write(Level::error, message); }
inline void warning(std::string_view message) { write(Level::warning, message); }
inline void info(std::string_view message) { write(Level::info, message); }
inline void debug(std::string_view message) {
  if (enabled(Level::debug)) write(Level::debug, message);
}

}  // namespace perfkvm::log
