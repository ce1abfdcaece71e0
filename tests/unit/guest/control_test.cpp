// The control line (what perfkvm ctl says) and the endpoint PERFKVM_CTL names: real sockets,
// in-process.
#include <doctest/doctest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "guest-agent/control_endpoint.hpp"
#include "guest-agent/control_line.hpp"
#include "util/unique_fd.hpp"

using namespace perfkvm;
using namespace perfkvm::guest;

namespace {

UniqueFd connect_to(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strcpy(address.sun_path, path.c_str());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  return fd;
}

std::string read_all(int fd) {
  std::string text;
  char chunk[256];
  for (ssize_t n; (n = ::recv(fd, chunk, sizeof chunk, 0)) > 0;) text.append(chunk, n);
  return text;
}

}  // namespace

TEST_CASE("control lines: the three requests round-trip; anything else says what is wrong") {
  for (const ControlRequest& request :
       {ControlRequest{ControlAction::enable, {}}, ControlRequest{ControlAction::disable, {}},
        ControlRequest{ControlAction::mark, "query all"}}) {
    std::string line = control_line(request);
    REQUIRE(line.back() == '\n');
    line.pop_back();
    const auto parsed = parse_control_line(line);
    REQUIRE(std::holds_alternative<ControlRequest>(parsed));
    CHECK(std::get<ControlRequest>(parsed) == request);
  }
  CHECK(std::get<std::string>(parse_control_line("snapshot")) ==
        "unknown control request; expected enable, disable or mark NAME");
  CHECK(std::get<std::string>(parse_control_line("mark")) == "a phase needs a name: mark NAME");
  CHECK(std::get<std::string>(parse_control_line("mark ")) == "a phase needs a name");
  CHECK(std::get<std::string>(parse_control_line("mark a\tb")) ==
        "a phase name cannot hold control characters");
  CHECK(std::get<std::string>(parse_control_line("mark " + std::string(65, 'x'))) ==
        "a phase name has at most 64 bytes, got 65");
  CHECK(std::holds_alternative<ControlRequest>(parse_control_line("mark " + std::string(64, 'x'))));
  CHECK(std::holds_alternative<std::string>(parse_control_line("ENABLE")));  // case matters
}

TEST_CASE("the endpoint: a private directory, one request line per connection, one answer, "
          "all removed at the end") {
  std::string path;
  {
    ControlEndpoint endpoint;
    path = endpoint.path();
    struct stat info {};
    REQUIRE(::stat(std::filesystem::path(path).parent_path().c_str(), &info) == 0);
    CHECK((info.st_mode & 0777) == 0700);

    auto first = connect_to(path);
    auto second = connect_to(path);
    auto silent = connect_to(path);  // says nothing whole: waits, costs nothing
    const std::string both = "mark warm\n";
    REQUIRE(::send(first.get(), both.data(), 5, 0) == 5);  // half a line first
    CHECK(endpoint.take().empty());
    REQUIRE(::send(first.get(), both.data() + 5, both.size() - 5, 0) ==
            static_cast<ssize_t>(both.size() - 5));
    REQUIRE(::send(second.get(), "bogus\n", 6, 0) == 6);
    REQUIRE(::send(silent.get(), "ena", 3, 0) == 3);
    auto incoming = endpoint.take();
    REQUIRE(incoming.size() == 2);
    CHECK(endpoint.open_clients() == 3);
    for (const auto& each : incoming) {
      if (const auto* request = std::get_if<ControlRequest>(&each.request)) {
        CHECK(request->phase == "warm");
        endpoint.answer(each.client, "ok");
      } else {
        CHECK(std::get<std::string>(each.request).starts_with("unknown control request"));
        endpoint.answer(each.client, "error: " + std::get<std::string>(each.request));
      }
    }
    CHECK(read_all(first.get()) == "ok\n");
    CHECK(read_all(second.get()).starts_with("error: unknown control request"));
    CHECK(endpoint.open_clients() == 1);

    // A line too long to be a request is refused, not buffered without bound.
    auto flood = connect_to(path);
    const std::string junk(300, 'x');
    REQUIRE(::send(flood.get(), junk.data(), junk.size(), 0) == 300);
    CHECK(endpoint.take().empty());
    CHECK(read_all(flood.get()) == "error: a control request is one line of at most 255 bytes\n");
  }
  CHECK_FALSE(std::filesystem::exists(path));
  CHECK_FALSE(std::filesystem::exists(std::filesystem::path(path).parent_path()));
}
