#include "host-agent/admin/hostd_config.hpp"

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "host-agent/policy/policy_options.hpp"

namespace perfkvm::host {

HostLimits built_in_host_limits() {
  return {.min_interval_ms = 10, .max_events = 32, .max_sessions = 4};
}

HostPolicyDefaults built_in_host_defaults() { return {built_in_host_limits(), {}}; }

HostPolicyDefaults read_hostd_config(const std::filesystem::path& file) {
  std::ifstream input(file);
  if (!input) {
    throw std::runtime_error("cannot read hostd's config file " + file.string() + ": " +
                             std::strerror(errno));
  }
  HostPolicyDefaults host = built_in_host_defaults();
  CLI::App app{"perfkvm-hostd's config file", "perfkvm-hostd"};
  app.set_help_flag();  // a `help` key must not make this a request for help
  // hostd's file holds all of its options; only these matter here.
  app.allow_config_extras(CLI::config_extras_mode::ignore);
  add_policy_options(app, {.min_interval_ms = host.limits.min_interval_ms,
                           .max_events = host.limits.max_events,
                           .max_sessions = host.limits.max_sessions,
                           .defaults = host.defaults});
  try {
    app.parse_from_stream(input);
  } catch (const CLI::ParseError& error) {
    throw std::runtime_error("hostd's config file " + file.string() + ": " + error.what());
  }
  return host;
}

}  // namespace perfkvm::host
