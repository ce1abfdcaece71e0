#include "util/log.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace perfkvm::log {
namespace {

std::string g_program = "perfkvm";
Level g_level = Level::info;

constexpr const char* kLevelNames[] = {"error", "warning", "info", "debug"};

}  // namespace

void set_program(std::string_view name) { g_program = std::string(name); }
void set_level(Level level) { g_level = level; }
Level level() { return g_level; }
bool enabled(Level level) { return level <= g_level; }

void write(Level level, std::string_view message) {
  if (!enabled(level)) return;
  using namespace std::chrono;
  const auto since_epoch = system_clock::now().time_since_epoch();
  const auto ms = duration_cast<milliseconds>(since_epoch).count() % 86'400'000;
  std::fprintf(stderr, "%02lld:%02lld:%02lld.%03lld %s[%d]: %s: %.*s\n",
               static_cast<long long>(ms / 3'600'000), static_cast<long long>(ms / 60'000 % 60),
               static_cast<long long>(ms / 1000 % 60), static_cast<long long>(ms % 1000),
               g_program.c_str(), static_cast<int>(::getpid()),
               kLevelNames[static_cast<int>(level)], static_cast<int>(message.size()),
               message.data());
}

}  // namespace perfkvm::log
