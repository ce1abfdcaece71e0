// perfkvm-host: the administrator's side of perfkvm. `list` shows every domain with its
// perfkvm channel, vsock CID and vCPU threads; `stat` counts a domain's vCPUs from the host;
// `xml` gives a domain its perfkvm channel (or vsock), takes it away, or shows it; `policy`
// shows, sets or clears a domain's perfkvm policy (its libvirt metadata).
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>

#include "cli/usage.hpp"
#include "host-agent/admin/domain_listing.hpp"
#include "host-agent/admin/host_options.hpp"

namespace {

using namespace perfkvm;
using namespace perfkvm::host;

// Read-only where the command only looks: it then works for users libvirt lets look (and
// cannot change a domain by mistake).
ConnectPtr open_connection(const std::string& uri, bool changes) {
  ConnectPtr connection(changes ? virConnectOpen(uri.c_str())
                                : virConnectOpenReadOnly(uri.c_str()));
  if (!connection) {
    throw std::runtime_error("cannot connect to libvirt at " + uri + ": " + libvirt_error());
  }
  return connection;
}

ConnectPtr open_readonly(const std::string& uri) { return open_connection(uri, false); }

// -o FILE: created or truncated, as perf stat -o does, before counting starts.
std::ofstream open_output(const std::string& path) {
  std::ofstream output(path, std::ios::out | std::ios::trunc);
  if (!output) {
    throw std::runtime_error("cannot open the output file " + path + ": " + std::strerror(errno));
  }
  return output;
}

}  // namespace

int main(int argc, char** argv) {
  HostInvocation invocation;
  try {
    invocation = parse_host_arguments(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const cli::UsageError& error) {
    std::cerr << cli::usage_error_text("perfkvm-host", error.what());
    return cli::kUsageExitStatus;
  }
  if (const auto* text = std::get_if<cli::ShowText>(&invocation)) {
    std::cout << text->text;
    return 0;
  }
  const auto& line = std::get<HostCommandLine>(invocation);
  const HostPaths paths;
  virInitialize();  // before any other libvirt call (libvirt 9.0 aborts otherwise)
  silence_libvirt_default_errors();
  try {
    if (const auto* xml_command = std::get_if<XmlCommand>(&line.command)) {
      const auto connection =
          open_connection(line.uri, xml_command->action != XmlCommand::Action::show);
      run_xml_command(connection.get(), *xml_command, std::cout);
      return 0;
    }
    if (const auto* policy = std::get_if<PolicyCommand>(&line.command)) {
      const auto connection =
          open_connection(line.uri, policy->action != PolicyCommand::Action::show);
      run_policy_command(connection.get(), *policy, std::cout);
      return 0;
    }
    const auto connection = open_readonly(line.uri);
    if (const auto* list = std::get_if<ListCommand>(&line.command)) {
      const auto domains = list_domains(connection.get(), line.channel_name, paths);
      std::cout << (list->json ? format_listing_json(domains) : format_listing_table(domains));
      return 0;
    }
    const auto& stat = std::get<StatOptions>(line.command);
    if (!stat.output_path) {
      return run_stat(connection.get(), line.channel_name, paths, stat, std::cout);
    }
    auto output = open_output(*stat.output_path);
    return run_stat(connection.get(), line.channel_name, paths, stat, output);
  } catch (const std::exception& error) {
    std::cerr << "perfkvm-host: error: " << error.what() << "\n";
    return 1;
  }
}
