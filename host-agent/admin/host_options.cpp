#include "host-agent/admin/host_options.hpp"

#include <CLI/CLI.hpp>

#include "cli/count_options.hpp"
#include "host-agent/admin/policy_command_line.hpp"
#include "host-agent/domains/domain_xml.hpp"
#include "perfkvm_config.hpp"

namespace perfkvm::host {

namespace {

constexpr const char* kProgram = "perfkvm-host";
constexpr const char* kStatCountGroup = "What to count";

// Every subcommand inherits it (CLI11 copies the footer into subcommands made after it), and
// their own help cannot list the global options.
constexpr const char* kGlobalOptionsFooter =
    "-c/--connect URI and --channel-name NAME may come before or after the\n"
    "subcommand: perfkvm-host -c URI list and perfkvm-host list -c URI are the same.";

void add_list(CLI::App& app, ListCommand& list) {
  auto* sub = app.add_subcommand("list", "domains: state, perfkvm channel, vsock CID, vCPUs");
  sub->add_flag("--json", list.json, "one JSON array instead of a table");
}

void add_xml(CLI::App& app, XmlCommand& xml_command) {
  auto* xml = app.add_subcommand("xml", "enable perfkvm for a domain: its channel or vsock");
  xml->require_subcommand(1);
  auto add_action = [&](const char* name, const char* help, XmlCommand::Action action) {
    auto* sub = xml->add_subcommand(name, help);
    sub->add_option("domain", xml_command.domain, "domain name or uuid")->required();
    sub->parse_complete_callback([&xml_command, action] { xml_command.action = action; });
    return sub;
  };
  for (auto* sub :
       {add_action("enable", "add perfkvm's device (idempotent)", XmlCommand::Action::enable),
        add_action("disable", "remove perfkvm's device", XmlCommand::Action::disable)}) {
    auto* channel = sub->add_flag_callback(
        "--channel", [&xml_command] { xml_command.device = PerfkvmDevice::channel; },
        "the virtio-serial channel (default)");
    sub->add_flag_callback(
           "--vsock", [&xml_command] { xml_command.device = PerfkvmDevice::vsock; },
           "a vsock device (needs /dev/vhost-vsock on\nthis host)")
        ->excludes(channel);
    sub->add_flag("--live", xml_command.live, "hot-plug into / unplug from the running domain");
    sub->add_flag("--config", xml_command.config,
                  "edit the persistent definition (default for\npersistent domains)");
  }
  add_action("show", "what perfkvm would use for this domain", XmlCommand::Action::show);
}

}  // namespace

HostInvocation parse_host_arguments(const std::vector<std::string>& args) {
  CLI::App app{"perfkvm-host: see and count KVM guests' vCPU threads as perfkvm does", kProgram};
  app.set_version_flag("--version", std::string(kProgram) + " " + PERFKVM_VERSION);
  app.require_subcommand(1);
  // Subcommands hand the options they do not know to the main program: the global options
  // work after the subcommand too. Set before the subcommands, which copy it.
  app.fallthrough();
  app.footer(kGlobalOptionsFooter);

  HostCommandLine line;
  line.channel_name = kDefaultChannelName;
  app.add_option("-c,--connect", line.uri, "libvirt URI")->capture_default_str();
  app.add_option("--channel-name", line.channel_name, "perfkvm's virtio-serial channel name")
      ->capture_default_str();

  ListCommand list;
  add_list(app, list);

  StatOptions stat;
  double duration = 0;
  auto* stat_command = app.add_subcommand("stat", "count a domain's vCPU threads, like perf stat");
  stat_command->add_option("domain", stat.domain, "domain name or uuid")->required();
  const cli::CountOptionSet counting(*stat_command, {.count_group = kStatCountGroup,
                                                     .output_group = "Output",
                                                     .event_names_from = "",
                                                     .report_stream = "stdout",
                                                     .offer_cpu = false});
  stat_command->add_option("--duration", duration, "stop after S seconds (default: at Ctrl-C)")
      ->option_text("S")
      ->check(CLI::PositiveNumber)
      ->group(kStatCountGroup);

  XmlCommand xml_command;
  add_xml(app, xml_command);

  PolicyCommand policy_command;
  add_policy_command(app, policy_command);

  if (auto text = cli::parse_command_line(app, args)) return *text;

  if (app.got_subcommand("list")) {
    line.command = list;
  } else if (app.got_subcommand("stat")) {
    static_cast<cli::CountOptions&>(stat) = counting.finish();
    if (duration > 0) stat.duration_s = duration;
    line.command = std::move(stat);
  } else if (app.got_subcommand("policy")) {
    check_policy_command(policy_command);
    line.command = std::move(policy_command);
  } else {
    xml_command.channel_name = line.channel_name;
    line.command = std::move(xml_command);
  }
  return line;
}

}  // namespace perfkvm::host
