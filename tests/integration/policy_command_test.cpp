// perfkvm-host policy show|set|clear against libvirt's test driver, run in-process
// (run_policy_command) on a persistent, running domain of test:///default made for these
// tests: the driver keeps a running domain's live and persistent <metadata> apart, as QEMU's
// does. The same command through the real binary is in tests/unit/admin/admin_options_test.cpp.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>

#include "host-agent/admin/policy_command.hpp"
#include "host-agent/admin/policy_metadata.hpp"
#include "host-agent/policy/policy_xml.hpp"
#include "host-agent/session/session_config.hpp"

using namespace perfkvm::host;

namespace {

constexpr const char* kName = "policy-web";
constexpr const char* kUuid = "5a0c7d3e-1f2b-4c5d-8e9f-0a1b2c3d4e77";

// A persistent domain, running, removed at the end of the test whatever happened: the test
// driver's state is shared by every test:///default connection of the process.
struct PolicyDomain {
  ConnectPtr connection;
  DomainPtr domain;
  PolicyDomain() {
    silence_libvirt_default_errors();
    connection.reset(virConnectOpen("test:///default"));
    REQUIRE_MESSAGE(connection, libvirt_error());
    const std::string xml = std::string("<domain type='test'><name>") + kName +
                            "</name><uuid>" + kUuid +
                            "</uuid><memory unit='MiB'>128</memory><vcpu>2</vcpu>"
                            "<os><type>hvm</type></os></domain>";
    domain.reset(virDomainDefineXML(connection.get(), xml.c_str()));
    REQUIRE_MESSAGE(domain, libvirt_error());
    REQUIRE_MESSAGE(virDomainCreate(domain.get()) == 0, libvirt_error());
  }
  ~PolicyDomain() {
    if (virDomainIsActive(domain.get()) == 1) virDomainDestroy(domain.get());
    virDomainUndefine(domain.get());
  }

  std::string run(PolicyCommand command) {
    command.domain = kName;
    // Not this host's /etc: the built-in defaults unless a test says otherwise.
    if (command.default_hostd_config == kDefaultHostdConfig) {
      command.default_hostd_config = "/nonexistent/perfkvm/hostd.conf";
    }
    std::ostringstream out;
    run_policy_command(connection.get(), command, out);
    return out.str();
  }
  std::string error_of(const PolicyCommand& command) {
    try {
      run(command);
    } catch (const std::runtime_error& error) {
      return error.what();
    }
    return "(no error)";
  }
  // What each definition's element states (an empty policy: no element).
  std::optional<DomainPolicy> stated(unsigned flags) {
    const auto element = read_policy_element(domain.get(), flags);
    if (!element) return std::nullopt;
    return parse_policy_xml(*element);
  }
};

PolicyCommand show() { return {}; }

PolicyCommand set(const DomainPolicy& changes, bool live = false, bool config = false) {
  PolicyCommand command;
  command.action = PolicyCommand::Action::set;
  command.changes = changes;
  command.live = live;
  command.config = config;
  return command;
}

PolicyCommand clear(bool live = false, bool config = false) {
  PolicyCommand command;
  command.action = PolicyCommand::Action::clear;
  command.live = live;
  command.config = config;
  return command;
}

struct ScratchFile {
  std::filesystem::path path;
  ScratchFile(const std::string& name, const std::string& text)
      : path(std::filesystem::temp_directory_path() /
             ("perfkvm-policy-" + std::to_string(::getpid()) + "-" + name)) {
    std::ofstream(path) << text;
  }
  ~ScratchFile() { std::filesystem::remove(path); }
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("policy set, then show: the domain's fields, the host's defaults for the others") {
  PolicyDomain web;
  CHECK(web.run(show()) ==
        "host defaults and limits: built-in (there is no /nonexistent/perfkvm/hostd.conf)\n"
        "guest-requests: allow (default)\n"
        "events: all (default)\n"
        "min-interval-ms: 10 (default)\n"
        "max-sessions: 4 (default)\n"
        "max-events: 32 (default)\n"
        "modes: all, guest, host, both (default)\n"
        "export: yes (default)\n");

  DomainPolicy changes;
  changes.guest_requests = GuestRequests::deny;
  changes.events = parse_event_list("software,instructions");
  changes.max_sessions = 3;
  changes.max_events = 64;
  CHECK(web.run(set(changes)) ==
        "domain 'policy-web': perfkvm policy set (live): guest-requests: deny; events: "
        "software, instructions; max-sessions: 3; max-events: 64\n");
  CHECK(web.run(show()) ==
        "host defaults and limits: built-in (there is no /nonexistent/perfkvm/hostd.conf)\n"
        "guest-requests: deny (domain)\n"
        "events: software, instructions (domain)\n"
        "min-interval-ms: 10 (default)\n"
        "max-sessions: 3 (domain)\n"
        "max-events: 32 (host limit; the domain asks for 64)\n"
        "modes: all, guest, host, both (default)\n"
        "export: yes (default)\n");
}

TEST_CASE("policy set --live and --config: each changes the definition it names") {
  PolicyDomain web;
  DomainPolicy live_changes;
  live_changes.max_events = 8;
  CHECK(web.run(set(live_changes, true, false)) ==
        "domain 'policy-web': perfkvm policy set (live): max-events: 8\n");
  CHECK(web.stated(VIR_DOMAIN_AFFECT_LIVE) == live_changes);
  CHECK_FALSE(web.stated(VIR_DOMAIN_AFFECT_CONFIG));

  DomainPolicy config_changes;
  config_changes.guest_requests = GuestRequests::deny;
  CHECK(web.run(set(config_changes, false, true)) ==
        "domain 'policy-web': perfkvm policy set (config): guest-requests: deny\n");
  CHECK(web.stated(VIR_DOMAIN_AFFECT_CONFIG) == config_changes);
  CHECK(web.stated(VIR_DOMAIN_AFFECT_LIVE) == live_changes);

  // Both: each definition keeps its own other fields.
  DomainPolicy both;
  both.export_counted = false;
  CHECK(web.run(set(both, true, true)) ==
        "domain 'policy-web': perfkvm policy set (live): max-events: 8; export: no\n"
        "domain 'policy-web': perfkvm policy set (config): guest-requests: deny; export: no\n");
  DomainPolicy live_now = live_changes;
  live_now.export_counted = false;
  DomainPolicy config_now = config_changes;
  config_now.export_counted = false;
  CHECK(web.stated(VIR_DOMAIN_AFFECT_LIVE) == live_now);
  CHECK(web.stated(VIR_DOMAIN_AFFECT_CONFIG) == config_now);

  // show reads the current definition: the running domain's.
  CHECK(contains(web.run(show()), "guest-requests: allow (default)\n"));
  CHECK(contains(web.run(show()), "max-events: 8 (domain)\n"));
}

TEST_CASE("policy set changes only the fields given") {
  PolicyDomain web;
  DomainPolicy first;
  first.guest_requests = GuestRequests::deny;
  first.max_sessions = 2;
  first.modes = std::vector{perfkvm::protocol::StartMode::guest};
  first.events = parse_event_list("hardware");
  web.run(set(first));

  DomainPolicy second;
  second.max_events = 4;
  second.guest_requests = GuestRequests::allow;
  second.min_interval_ms = 250;
  CHECK(web.run(set(second)) ==
        "domain 'policy-web': perfkvm policy set (live): guest-requests: allow; events: "
        "hardware; min-interval-ms: 250; max-sessions: 2; max-events: 4; modes: guest\n");
  DomainPolicy expected = first;
  expected.max_events = 4;
  expected.guest_requests = GuestRequests::allow;
  expected.min_interval_ms = 250;
  CHECK(web.stated(VIR_DOMAIN_AFFECT_CURRENT) == expected);
  CHECK(with_changes(first, second) == expected);
}

TEST_CASE("policy clear removes the element; clearing none changes nothing") {
  PolicyDomain web;
  DomainPolicy changes;
  changes.max_sessions = 1;
  web.run(set(changes, true, true));
  CHECK(web.run(clear(false, true)) == "domain 'policy-web': perfkvm policy removed (config)\n");
  CHECK_FALSE(web.stated(VIR_DOMAIN_AFFECT_CONFIG));
  CHECK(web.stated(VIR_DOMAIN_AFFECT_LIVE) == changes);
  CHECK(web.run(clear()) == "domain 'policy-web': perfkvm policy removed (live)\n");
  CHECK_FALSE(web.stated(VIR_DOMAIN_AFFECT_LIVE));
  CHECK(web.run(clear(true, true)) ==
        "domain 'policy-web': no perfkvm policy (live): nothing changed\n"
        "domain 'policy-web': no perfkvm policy (config): nothing changed\n");
  CHECK(contains(web.run(show()), "max-sessions: 4 (default)\n"));
}

TEST_CASE("policy show of an element that cannot be parsed: the parse error, and hostd denies") {
  PolicyDomain web;
  const char* broken = "<policy max-sessions='lots'/>";
  REQUIRE_MESSAGE(virDomainSetMetadata(web.domain.get(), VIR_DOMAIN_METADATA_ELEMENT, broken,
                                       "perfkvm", std::string(kPolicyNamespaceUri).c_str(),
                                       VIR_DOMAIN_AFFECT_LIVE) == 0,
                  libvirt_error());
  const std::string shown = web.error_of(show());
  CHECK(shown ==
        "domain 'policy-web': its perfkvm policy cannot be read: policy XML: line 1: <policy "
        "max-sessions> 'lots' is not a whole number in 1..1024; perfkvm-hostd denies every "
        "request of its guest until it is fixed (perfkvm-host policy clear removes it)");

  // set cannot keep the other fields of an element it cannot read: it writes nothing.
  DomainPolicy changes;
  changes.max_events = 2;
  CHECK(contains(web.error_of(set(changes)), "'lots' is not a whole number"));
  CHECK(contains(web.error_of(set(changes)), "perfkvm-host policy clear removes it"));
  CHECK(contains(*read_policy_element(web.domain.get(), VIR_DOMAIN_AFFECT_LIVE), "lots"));
  // clear does not need to read it.
  CHECK(web.run(clear()) == "domain 'policy-web': perfkvm policy removed (live)\n");
  CHECK_FALSE(web.stated(VIR_DOMAIN_AFFECT_LIVE));
}

TEST_CASE("policy show --hostd-config: the host's defaults and limits from hostd's file") {
  PolicyDomain web;
  DomainPolicy changes;
  changes.max_sessions = 8;
  web.run(set(changes));
  // Other keys of hostd's are no concern of show's.
  const ScratchFile config("hostd.conf",
                           "# perfkvm-hostd --config\n"
                           "default-policy = \"deny\"\n"
                           "max-sessions = 2\n"
                           "lease = 5000\n"
                           "metrics-listen = \"127.0.0.1:9477\"\n");
  PolicyCommand command = show();
  command.hostd_config = config.path;
  CHECK(web.run(command) == "host defaults and limits: " + config.path.string() + "\n" +
                                "guest-requests: deny (default)\n"
                                "events: all (default)\n"
                                "min-interval-ms: 10 (default)\n"
                                "max-sessions: 2 (host limit; the domain asks for 8)\n"
                                "max-events: 32 (default)\n"
                                "modes: all, guest, host, both (default)\n"
                                "export: yes (default)\n");

  // The default file is read when it exists.
  PolicyCommand by_default = show();
  by_default.default_hostd_config = config.path;
  CHECK(web.run(by_default) == web.run(command));

  // A file given that does not exist is an error; so is a bad value, with hostd's option name.
  PolicyCommand missing = show();
  missing.hostd_config = config.path.string() + ".missing";
  CHECK(web.error_of(missing) == "cannot read hostd's config file " + config.path.string() +
                                     ".missing: No such file or directory");
  const ScratchFile bad("bad.conf", "max-events = 0\n");
  PolicyCommand bad_command = show();
  bad_command.hostd_config = bad.path;
  CHECK(web.error_of(bad_command) == "hostd's config file " + bad.path.string() +
                                         ": --max-events: Value 0 not in range 1 to 64");
}

TEST_CASE("policy: libvirt's errors say what and where") {
  PolicyDomain web;
  PolicyCommand nosuch = show();
  nosuch.domain = "no-such-domain";
  std::ostringstream out;
  CHECK_THROWS_WITH(run_policy_command(web.connection.get(), nosuch, out),
                    "domain 'no-such-domain' not found (perfkvm-host list shows the domains)");

  // A stopped domain has no live definition.
  REQUIRE(virDomainDestroy(web.domain.get()) == 0);
  DomainPolicy changes;
  changes.max_sessions = 1;
  const std::string error = web.error_of(set(changes, true, false));
  const std::string prefix = "domain 'policy-web': cannot read its perfkvm policy: ";
  REQUIRE(error.rfind(prefix, 0) == 0);
  const std::string libvirt_message = error.substr(prefix.size());
  CHECK(contains(libvirt_message, "not running"));
  const std::string set_error =
      "domain 'policy-web': cannot set its perfkvm policy: " + libvirt_message;
  CHECK_THROWS_WITH(write_policy_element(web.domain.get(), "<policy/>", VIR_DOMAIN_AFFECT_LIVE),
                    set_error.c_str());
  const std::string remove_error =
      "domain 'policy-web': cannot remove its perfkvm policy: " + libvirt_message;
  CHECK_THROWS_WITH(remove_policy_element(web.domain.get(), VIR_DOMAIN_AFFECT_LIVE),
                    remove_error.c_str());
  // Without --live or --config a stopped domain's current definition is its persistent one.
  CHECK(web.run(set(changes)) ==
        "domain 'policy-web': perfkvm policy set (config): max-sessions: 1\n");
}

TEST_CASE("perfkvm-host's built-in host limits are perfkvm-hostd's (SessionConfig)") {
  const SessionConfig hostd;
  CHECK(built_in_host_limits() ==
        HostLimits{hostd.min_interval_ms, hostd.max_events, hostd.max_sessions});
}
