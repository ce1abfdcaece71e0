// Opening the transport: each failure names the fix.
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
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
