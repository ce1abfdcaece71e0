// perfkvm-host's command line (CLI11): the global options (-c URI, --channel-name NAME),
// which may come before or after the subcommand as with virsh, and the subcommands list,
// stat, xml and policy (policy_command_line.hpp). stat's counting and output options are
// perfkvm's (cli/count_options.hpp).
// Parsing only: nothing here touches libvirt.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include "cli/usage.hpp"
#include "host-agent/admin/policy_command.hpp"
#include "host-agent/admin/stat_command.hpp"
#include "host-agent/admin/xml_command.hpp"

namespace perfkvm::host {

inline constexpr const char* kDefaultLibvirtUri = "qemu:///system";

struct ListCommand {
  bool json = false;  // one JSON array instead of a table
};

struct HostCommandLine {
  std::string uri = kDefaultLibvirtUri;  // -c, --connect
  std::string channel_name;              // --channel-name; also in XmlCommand
  std::variant<ListCommand, StatOptions, XmlCommand, PolicyCommand> command;
};

using HostInvocation = std::variant<HostCommandLine, cli::ShowText>;

// `args` excludes the program name. Throws cli::UsageError with the message for the user.
HostInvocation parse_host_arguments(const std::vector<std::string>& args);

}  // namespace perfkvm::host
