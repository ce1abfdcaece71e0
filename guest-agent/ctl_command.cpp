#include "guest-agent/ctl_command.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ostream>
#include <sstream>

#include "util/unique_fd.hpp"

namespace perfkvm::guest {

namespace {

using Clock = std::chrono::steady_clock;

int failed(std::ostream& err, const std::string& why) {
  err << "perfkvm ctl: error: " << why << '\n';
  return 1;
}

}  // namespace

int run_ctl(const CtlOptions& options, std::ostream& err) {
  const char* path = std::getenv(kControlEnvironment);
  if (path == nullptr || *path == '\0') {
    return failed(err, std::string(kControlEnvironment) +
                           " is not set: perfkvm ctl works inside a command run by perfkvm");
  }
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (std::strlen(path) >= sizeof address.sun_path) {
    return failed(err, std::string(kControlEnvironment) + " names a path too long for a socket");
  }
  std::strcpy(address.sun_path, path);
  UniqueFd socket(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!socket ||
      ::connect(socket.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    return failed(err, "cannot reach the perfkvm run at " + std::string(path) + " (" +
                           kControlEnvironment + "): " + std::strerror(errno) +
                           " (did that run end?)");
  }
  const std::string line = control_line(options.request);
  if (::send(socket.get(), line.data(), line.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(line.size())) {
    return failed(err, "cannot send to the perfkvm run: " + std::string(std::strerror(errno)));
  }
  const auto deadline =
      Clock::now() + std::chrono::milliseconds(static_cast<long>(options.timeout_s * 1000));
  std::string answer;
  while (answer.find('\n') == std::string::npos && answer.size() < kMaxControlLine) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd ready{socket.get(), POLLIN, 0};
    if (left.count() <= 0 || ::poll(&ready, 1, static_cast<int>(left.count())) == 0) {
      std::ostringstream seconds;
      seconds << options.timeout_s;
      return failed(err, "no answer from the perfkvm run within " + seconds.str() + " s");
    }
    char chunk[kMaxControlLine];
    const ssize_t n = ::recv(socket.get(), chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return failed(err, "the perfkvm run closed the connection without an answer");
    answer.append(chunk, static_cast<std::size_t>(n));
  }
  answer = answer.substr(0, answer.find('\n'));
  if (answer == "ok") return 0;
  constexpr std::string_view kError = "error: ";
  return failed(err, answer.starts_with(kError) ? answer.substr(kError.size()) : answer);
}

}  // namespace perfkvm::guest
