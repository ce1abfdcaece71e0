// Opening the transport: each failure names the fix.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <string>

#include "guest-agent/diagnostics.hpp"
#include "guest-agent/transport.hpp"

using namespace perfkvm::guest;

namespace {

// A port path that does not exist, whether or not this machine has the real port.
const std::string kMissingPort =
    "/tmp/perfkvm-no-such-port-" + std::to_string(::getpid()) + "/org.perfkvm.0";

std::string open_error(const ConnectOptions& options) {
  try {
    open_transport(options, kMissingPort);
  } catch (const GuestError& error) {
    return error.what();
  }
  return "(opened)";
}

const std::string kAdminFix = "the host admin adds it: see xml/ (perfkvm-host xml enable DOMAIN)";

}  // namespace

TEST_CASE("the domain has no perfkvm channel") {
  REQUIRE_FALSE(std::filesystem::exists(kMissingPort));
  SUBCASE("the port, named explicitly") {
    ConnectOptions options;
    options.device = kMissingPort;
    CHECK(open_error(options) ==
          "this VM has no perfkvm channel (" + kMissingPort + " does not exist); " + kAdminFix);
  }
  SUBCASE("auto-detection falls back to vsock, and says what is missing when that fails too") {
    ConnectOptions options;
    options.timeout_s = 1;
    const auto message = open_error(options);
    // Which of the two depends on whether this machine has vsock at all.
    const bool no_vsock = message == "this VM has no perfkvm channel (" + kMissingPort +
                                         " does not exist) and no vsock to the host; " +
                                         kAdminFix;
    const bool nobody_listens =
        message.starts_with("this VM has no perfkvm channel (" + kMissingPort +
                            " does not exist), and nothing answers on vsock CID 2 port 9999 (") &&
        message.ends_with("If this VM should use a virtio-serial channel instead, " + kAdminFix);
    CHECK_MESSAGE((no_vsock || nobody_listens), message);
  }
}

TEST_CASE("--vsock to a CID that does not exist") {
  ConnectOptions options;
  options.vsock = VsockAddress{4000000, 9999};
  options.timeout_s = 1;
  const auto message = open_error(options);
  CHECK_MESSAGE(message.starts_with("cannot connect"), message);
  CHECK_MESSAGE(message.find("vsock CID 4000000 port 9999") != std::string::npos, message);
}

TEST_CASE("--device with a path that does not exist") {
  ConnectOptions options;
  options.device = "/nonexistent/perfkvm-port";
  CHECK(open_error(options) == "cannot open /nonexistent/perfkvm-port: No such file or directory");
}

namespace {

// The port as open(2) finds it while another process has it open: virtio_console lets one
// opener at a time and refuses the rest with EBUSY. Records how it was called.
std::string busy_path;
int busy_flags = 0;
int open_busy_port(const char* path, int flags) {
  busy_path = path;
  busy_flags = flags;
  errno = EBUSY;
  return -1;
}

// An existing path that is not a socket, so that open_transport takes it for the port.
struct PortFile {
  std::string path =
      (std::filesystem::temp_directory_path() / ("perfkvm-busy-port-" + std::to_string(::getpid())))
          .string();
  PortFile() { REQUIRE(std::ofstream(path).good()); }
  ~PortFile() { std::filesystem::remove(path); }
};

std::string busy_open_error(const ConnectOptions& options, const std::string& default_port) {
  busy_path.clear();
  try {
    open_transport(options, default_port, open_busy_port);
  } catch (const GuestError& error) {
    return error.what();
  }
  return "(opened)";
}

}  // namespace

TEST_CASE("the port is busy: another perfkvm has it open") {
  const PortFile port;
  const std::string busy = "another perfkvm is using the port " + port.path +
                           " (it can be open only once): wait until that one ends";
  SUBCASE("named with --device") {
    ConnectOptions options;
    options.device = port.path;
    CHECK(busy_open_error(options, kMissingPort) == busy);
  }
  SUBCASE("found by auto-detection") {
    CHECK(busy_open_error(ConnectOptions{}, port.path) == busy);
  }
  // The port is opened for both directions, without blocking, and not as a terminal.
  CHECK(busy_path == port.path);
  CHECK(busy_flags == (O_RDWR | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
}
