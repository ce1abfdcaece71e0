// `perfkvm-host policy show|set|clear DOMAIN`: a domain's perfkvm policy, the element in its
// libvirt <metadata> (host-agent/policy/policy_xml.hpp). show prints the effective policy,
// each field with where it comes from (the domain, the host's default, the host's limit);
// set changes the fields given and keeps the others; clear removes the element.
#pragma once

#include <filesystem>
#include <optional>
#include <ostream>
#include <string>

#include "host-agent/admin/hostd_config.hpp"
#include "host-agent/libvirt/handles.hpp"
#include "host-agent/policy/domain_policy.hpp"

namespace perfkvm::host {

struct PolicyCommand {
  enum class Action { show, set, clear };
  Action action = Action::show;
  std::string domain;  // name or uuid
  // set: the fields given on the command line; an absent field keeps the domain's value.
  DomainPolicy changes;
  // set, clear: which definition, as virsh's --live and --config (neither: the current one,
  // i.e. the running domain if it runs, else its persistent definition).
  bool live = false;
  bool config = false;
  // show: --hostd-config FILE (it must exist); none: default_hostd_config if it exists, else
  // the built-in defaults. A parameter so tests need not depend on this host's /etc.
  std::optional<std::filesystem::path> hostd_config;
  std::filesystem::path default_hostd_config = kDefaultHostdConfig;
};

// `current` with every field that `changes` states replaced.
DomainPolicy with_changes(DomainPolicy current, const DomainPolicy& changes);

// Prints what it shows or did to `out`. Throws std::runtime_error with a message for the
// user, naming the domain: libvirt's errors, a policy element that cannot be parsed, a value
// the policy cannot hold, hostd's config file.
void run_policy_command(virConnectPtr connection, const PolicyCommand& command,
                        std::ostream& out);

}  // namespace perfkvm::host
