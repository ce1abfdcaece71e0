// perfkvm, the guest agent: run a command in this KVM guest while perfkvm-hostd counts the
// VM's vCPU threads on the host, and print a perf-stat-like report. See --help.
#include <fcntl.h>
#include <unistd.h>

#include <iostream>

#include "cli/usage.hpp"
#include "guest-agent/diagnostics.hpp"
#include "guest-agent/list_command.hpp"
#include "guest-agent/options.hpp"
#include "guest-agent/ping_command.hpp"
#include "guest-agent/run_command.hpp"

using namespace perfkvm::guest;

namespace {

// With fd 0, 1 or 2 closed, the next open() or socket() would take its number, and the report
// meant for stderr would be written into the connection to the host: hold them with /dev/null.
void hold_standard_fds() {
  int fd = -1;
  while ((fd = ::open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0 && fd <= 2) {
    // No O_CLOEXEC on a standard fd: the command inherits it, as from any shell.
    ::fcntl(fd, F_SETFD, 0);
  }
  if (fd > 2) ::close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  hold_standard_fds();
  Invocation invocation;
  try {
    invocation = parse_arguments(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const UsageError& error) {
    std::cerr << perfkvm::cli::usage_error_text("perfkvm", error.what());
    return kUsageExitStatus;
  }
  if (const auto* text = std::get_if<ShowText>(&invocation)) {
    std::cout << text->text;
    return 0;
  }
  if (const auto* ctl = std::get_if<CtlOptions>(&invocation)) return run_ctl(*ctl, std::cerr);
  const bool verbose = std::visit(
      [](const auto& options) {
        if constexpr (requires { options.connect; }) return options.connect.verbose;
        return false;
      },
      invocation);
  Diagnostics diagnostics(std::cerr, verbose);
  try {
    if (const auto* list = std::get_if<ListOptions>(&invocation)) {
      return run_list(*list, std::cout, diagnostics);
    }
    if (const auto* ping = std::get_if<PingOptions>(&invocation)) {
      return run_ping(*ping, std::cout, diagnostics);
    }
    return run_command(std::get<RunOptions>(invocation), diagnostics);
  } catch (const GuestError& error) {
    diagnostics.error(error.what());
  } catch (const std::exception& error) {
    diagnostics.error(std::string("unexpected failure: ") + error.what());
  }
  return 1;
}
