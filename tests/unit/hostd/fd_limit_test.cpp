// hostd's fd limit: raised to the hard limit, and the host-wide counter budget kept within it.
#include "host-agent/hostd/fd_limit.hpp"

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

using namespace perfkvm::host;

TEST_CASE("counter_budget_for: the budget fits the fd limit with room for everything else") {
  struct Case {
    std::size_t budget;
    rlim_t fd_limit;
    std::size_t expected;
  };
  const std::vector<Case> cases{
      {65536, 1048576, 65536},     // fits: unchanged
      {65536, 524288, 65536},
      {65536, 65536, 64512},       // 1024 kept for channels, connections, libvirt
      {65536, 4096, 3072},
      {65536, 2049, 1025},
      {65536, 2048, 1024},         // 2048 or less: half of it kept
      {65536, 1024, 512},          // the 1024 soft default: not left at 65536
      {65536, 100, 50},
      {65536, 0, 0},
      {100, 4096, 100},            // a budget already below the limit stays
      {65536, RLIM_INFINITY, 65536},
  };
  for (const auto& c : cases) {
    CAPTURE(c.budget);
    CAPTURE(c.fd_limit);
    CHECK(counter_budget_for(c.budget, c.fd_limit) == c.expected);
  }
}

TEST_CASE("raise_fd_limit: the soft limit goes up to the hard one") {
  // In a child, so that the test process keeps its limits.
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) ::_exit(10);
    const rlim_t hard = limit.rlim_max == RLIM_INFINITY ? 65536 : limit.rlim_max;
    limit = {100, hard};
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) ::_exit(11);
    const auto raised = raise_fd_limit();
    if (!raised) ::_exit(12);
    if (*raised != hard) ::_exit(13);
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur != hard) ::_exit(14);
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  INFO("child's step that failed: " << WEXITSTATUS(status) << " (10-14, see the test)");
  CHECK(WEXITSTATUS(status) == 0);
}
