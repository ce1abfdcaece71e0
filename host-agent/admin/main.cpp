// perfkvm-host: the administrator's side of perfkvm. `list` shows every domain with its
// perfkvm channel, vsock CID and vCPU threads; `stat` counts a domain's vCPUs from the host;
// `xml` gives a domain its perfkvm channel (or vsock), takes it away, or shows it.
#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/event_list.hpp"
#include "host-agent/admin/domain_listing.hpp"
#include "host-agent/admin/stat_command.hpp"
#include "host-agent/admin/xml_command.hpp"
#include "host-agent/domains/domain_xml.hpp"
#include "perfkvm_config.hpp"

namespace {

using namespace perfkvm;
using namespace perfkvm::host;

ConnectPtr open_readonly(const std::string& uri) {
  ConnectPtr connection(virConnectOpenReadOnly(uri.c_str()));
  if (!connection) {
    throw std::runtime_error("cannot connect to libvirt at " + uri + ": " + libvirt_error());
  }
  return connection;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"perfkvm-host: see and count KVM guests' vCPU threads as perfkvm does"};
  app.set_version_flag("--version", std::string("perfkvm-host ") + PERFKVM_VERSION);
  app.require_subcommand(1);
  std::string uri = "qemu:///system";
  std::string channel_name(kDefaultChannelName);
  HostPaths paths;
  app.add_option("-c,--connect", uri, "libvirt URI")->capture_default_str();
  app.add_option("--channel-name", channel_name, "perfkvm's virtio-serial channel name")
      ->capture_default_str();

  auto* list = app.add_subcommand("list", "every domain: state, perfkvm channel, vsock CID, vCPU threads");
  bool list_json = false;
  list->add_flag("--json", list_json, "one JSON array instead of a table");

  auto* stat = app.add_subcommand("stat", "count a running domain's vCPU threads, like perf stat");
  StatOptions stat_options;
  std::vector<std::string> event_args;
  std::string vcpu_list;
  std::string mode;
  std::uint32_t interval = 0;
  double duration = 0;
  bool json_output = false;
  std::string separator;
  stat->add_option("domain", stat_options.domain, "domain name or uuid")->required();
  stat->add_option("-e,--events", event_args, "events, comma separated (default: perf stat's)");
  stat->add_option("-i,--interval", interval, "print counts every MS milliseconds")
      ->check(CLI::Range(1u, protocol::kMaxIntervalMs));
  stat->add_option("--vcpu", vcpu_list, "vCPUs to count, e.g. 0,2-3 (default: all)");
  stat->add_flag("-A,--per-vcpu", stat_options.format.per_vcpu, "one line per vCPU");
  stat->add_option("--mode", mode, cli::kModeHelp)
      ->check(CLI::IsMember({"guest", "host", "all", "both"}));
  stat->add_option("--duration", duration, "stop after S seconds (default: at Ctrl-C)")
      ->check(CLI::PositiveNumber);
  auto* csv = stat->add_option("-x,--field-separator", separator, "CSV output with SEP");
  stat->add_flag("-j,--json", json_output, "JSON output, one object per line")->excludes(csv);

  auto* xml = app.add_subcommand("xml", "enable perfkvm for a domain: add its channel (or vsock)");
  xml->require_subcommand(1);
  XmlCommand xml_command;
  auto add_xml_action = [&](const char* name, const char* help, XmlCommand::Action action) {
    auto* sub = xml->add_subcommand(name, help);
    sub->add_option("domain", xml_command.domain, "domain name or uuid")->required();
    sub->parse_complete_callback([&xml_command, action] { xml_command.action = action; });
    return sub;
  };
  for (auto* sub : {add_xml_action("enable", "add perfkvm's device (idempotent)",
                                   XmlCommand::Action::enable),
                    add_xml_action("disable", "remove perfkvm's device", XmlCommand::Action::disable)}) {
    auto* channel = sub->add_flag_callback(
        "--channel", [&] { xml_command.device = PerfkvmDevice::channel; },
        "the virtio-serial channel (default)");
    sub->add_flag_callback("--vsock", [&] { xml_command.device = PerfkvmDevice::vsock; },
                           "a vsock device (needs /dev/vhost-vsock on this host)")
        ->excludes(channel);
    sub->add_flag("--live", xml_command.live, "hot-plug into / unplug from the running domain");
    sub->add_flag("--config", xml_command.config,
                  "edit the persistent definition (default for persistent domains)");
  }
  add_xml_action("show", "what perfkvm would use for this domain", XmlCommand::Action::show);

  CLI11_PARSE(app, argc, argv);
  xml_command.channel_name = channel_name;
  virInitialize();  // before any other libvirt call (libvirt 9.0 aborts otherwise)
  silence_libvirt_default_errors();
  try {
    if (*xml) {
      const bool changes = xml_command.action != XmlCommand::Action::show;
      ConnectPtr connection(changes ? virConnectOpen(uri.c_str())
                                    : virConnectOpenReadOnly(uri.c_str()));
      if (!connection) {
        throw std::runtime_error("cannot connect to libvirt at " + uri + ": " + libvirt_error());
      }
      run_xml_command(connection.get(), xml_command, std::cout);
      return 0;
    }
    const auto connection = open_readonly(uri);
    if (*list) {
      const auto domains = list_domains(connection.get(), channel_name, paths);
      std::cout << (list_json ? format_listing_json(domains) : format_listing_table(domains));
      return 0;
    }
    stat_options.events =
        event_args.empty() ? cli::default_events() : cli::parse_event_list([&] {
          std::string joined;
          for (const auto& arg : event_args) joined += arg + ",";
          return joined;
        }());
    if (!vcpu_list.empty()) stat_options.vcpus = cli::parse_vcpu_list(vcpu_list);
    if (interval) stat_options.interval_ms = interval;
    if (duration > 0) stat_options.duration_s = duration;
    stat_options.mode = cli::parse_mode(mode);
    if (json_output) stat_options.format.format = report::OutputFormat::json;
    if (!separator.empty()) {
      stat_options.format.format = report::OutputFormat::csv;
      stat_options.format.separator = separator;
    }
    return run_stat(connection.get(), channel_name, paths, stat_options, std::cout);
  } catch (const std::exception& error) {
    std::cerr << "perfkvm-host: error: " << error.what() << "\n";
    return 1;
  }
}
