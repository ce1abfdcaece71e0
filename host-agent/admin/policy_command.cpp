#include "host-agent/admin/policy_command.hpp"

#include <stdexcept>
#include <vector>

#include "host-agent/admin/policy_metadata.hpp"
#include "host-agent/policy/effective_policy.hpp"
#include "host-agent/policy/policy_xml.hpp"

namespace perfkvm::host {

namespace {

struct Target {
  DomainPtr domain;
  std::string name;
  bool active = false;
};

Target find(virConnectPtr connection, const std::string& name_or_uuid) {
  Target target;
  target.domain.reset(virDomainLookupByName(connection, name_or_uuid.c_str()));
  if (!target.domain) {
    target.domain.reset(virDomainLookupByUUIDString(connection, name_or_uuid.c_str()));
  }
  if (!target.domain) {
    throw std::runtime_error("domain '" + name_or_uuid +
                             "' not found (perfkvm-host list shows the domains)");
  }
  target.name = virDomainGetName(target.domain.get());
  target.active = virDomainIsActive(target.domain.get()) == 1;
  return target;
}

// One definition of the domain, as libvirt's flags name it and as the output does.
struct Scope {
  unsigned flags;
  const char* name;
};

// virsh's rule: --live, --config, or both; neither is the current definition. libvirt reads
// one definition per call, so with both each is read and changed on its own: the running
// domain's element and the persistent one may differ, and set keeps each one's other fields.
std::vector<Scope> scopes_of(const PolicyCommand& command, const Target& target) {
  std::vector<Scope> scopes;
  if (command.live) scopes.push_back({VIR_DOMAIN_AFFECT_LIVE, "live"});
  if (command.config) scopes.push_back({VIR_DOMAIN_AFFECT_CONFIG, "config"});
  if (scopes.empty()) {
    scopes.push_back({VIR_DOMAIN_AFFECT_CURRENT, target.active ? "live" : "config"});
  }
  return scopes;
}

// The element parsed; the error says what and where, and what follows from it.
DomainPolicy parse_element(const Target& target, const std::string& element,
                           const std::string& consequence) {
  try {
    return parse_policy_xml(element);
  } catch (const PolicyError& error) {
    throw std::runtime_error("domain '" + target.name +
                             "': its perfkvm policy cannot be read: " + error.what() + "; " +
                             consequence);
  }
}

// "guest-requests: deny; max-sessions: 8": the fields a domain's element states, named as in
// the XML and in `policy show`.
std::string stated_fields(const DomainPolicy& policy) {
  std::string out;
  const auto add = [&out](const char* field, const std::string& value) {
    out += (out.empty() ? "" : "; ") + std::string(field) + ": " + value;
  };
  if (policy.guest_requests) {
    add("guest-requests", std::string(protocol::to_string(*policy.guest_requests)));
  }
  if (policy.events) add("events", describe(*policy.events));
  if (policy.min_interval_ms) add("min-interval-ms", std::to_string(*policy.min_interval_ms));
  if (policy.max_sessions) add("max-sessions", std::to_string(*policy.max_sessions));
  if (policy.max_events) add("max-events", std::to_string(*policy.max_events));
  if (policy.modes) add("modes", describe(*policy.modes));
  if (policy.export_counted) add("export", *policy.export_counted ? "yes" : "no");
  return out;
}

void show(const PolicyCommand& command, const Target& target, std::ostream& out) {
  // An explicit file must exist; the default one need not (hostd then runs on its built-ins).
  HostPolicyDefaults host = built_in_host_defaults();
  std::string host_source;
  if (command.hostd_config) {
    host = read_hostd_config(*command.hostd_config);
    host_source = command.hostd_config->string();
  } else if (std::filesystem::exists(command.default_hostd_config)) {
    host = read_hostd_config(command.default_hostd_config);
    host_source = command.default_hostd_config.string();
  } else {
    host_source = "built-in (there is no " + command.default_hostd_config.string() + ")";
  }
  DomainPolicy policy;
  if (const auto element = read_policy_element(target.domain.get(), VIR_DOMAIN_AFFECT_CURRENT)) {
    policy = parse_element(target, *element,
                           "perfkvm-hostd denies every request of its guest until it is fixed "
                           "(perfkvm-host policy clear removes it)");
  }
  out << "host defaults and limits: " << host_source << "\n"
      << describe(effective_policy(policy, host));
}

void set(const PolicyCommand& command, const Target& target, std::ostream& out) {
  struct Write {
    Scope scope;
    DomainPolicy policy;
    std::string element;
  };
  // Every definition is read and its new element made before any is written: a value the
  // policy cannot hold, or an element that cannot be read, changes none of them.
  std::vector<Write> writes;
  for (const Scope& scope : scopes_of(command, target)) {
    DomainPolicy current;
    if (const auto element = read_policy_element(target.domain.get(), scope.flags)) {
      current = parse_element(target, *element,
                              "set keeps the fields it is not given, so it cannot change an "
                              "element it cannot read: perfkvm-host policy clear removes it");
    }
    Write write{scope, with_changes(std::move(current), command.changes), {}};
    try {
      write.element = policy_xml(write.policy);
    } catch (const PolicyError& error) {
      throw std::runtime_error("domain '" + target.name + "': cannot set its perfkvm policy: " +
                               error.what());
    }
    writes.push_back(std::move(write));
  }
  for (const Write& write : writes) {
    write_policy_element(target.domain.get(), write.element, write.scope.flags);
    out << "domain '" << target.name << "': perfkvm policy set (" << write.scope.name
        << "): " << stated_fields(write.policy) << "\n";
  }
}

void clear(const PolicyCommand& command, const Target& target, std::ostream& out) {
  for (const Scope& scope : scopes_of(command, target)) {
    // Read first only to say whether anything changed, as `xml disable` does.
    if (!read_policy_element(target.domain.get(), scope.flags)) {
      out << "domain '" << target.name << "': no perfkvm policy (" << scope.name
          << "): nothing changed\n";
      continue;
    }
    remove_policy_element(target.domain.get(), scope.flags);
    out << "domain '" << target.name << "': perfkvm policy removed (" << scope.name << ")\n";
  }
}

template <class T>
void take(std::optional<T>& field, const std::optional<T>& change) {
  if (change) field = change;
}

}  // namespace

DomainPolicy with_changes(DomainPolicy current, const DomainPolicy& changes) {
  take(current.guest_requests, changes.guest_requests);
  take(current.events, changes.events);
  take(current.min_interval_ms, changes.min_interval_ms);
  take(current.max_sessions, changes.max_sessions);
  take(current.max_events, changes.max_events);
  take(current.modes, changes.modes);
  take(current.export_counted, changes.export_counted);
  return current;
}

void run_policy_command(virConnectPtr connection, const PolicyCommand& command,
                        std::ostream& out) {
  const Target target = find(connection, command.domain);
  switch (command.action) {
    case PolicyCommand::Action::show: return show(command, target, out);
    case PolicyCommand::Action::set: return set(command, target, out);
    case PolicyCommand::Action::clear: return clear(command, target, out);
  }
}

}  // namespace perfkvm::host
