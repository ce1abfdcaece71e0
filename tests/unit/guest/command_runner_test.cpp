// The gated command and the signal plumbing, in-process.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <thread>

#include "guest-agent/command_runner.hpp"
#include "guest-agent/signal_watch.hpp"

using namespace perfkvm::guest;
using namespace std::chrono_literals;

namespace {

struct ScratchDir {
  std::filesystem::path path;
  ScratchDir() {
    char pattern[] = "/tmp/perfkvm-runner-XXXXXX";
    REQUIRE(::mkdtemp(pattern) != nullptr);
    path = pattern;
  }
  ~ScratchDir() { std::filesystem::remove_all(path); }
};

sigset_t current_mask() {
  sigset_t mask;
  sigprocmask(SIG_SETMASK, nullptr, &mask);
  return mask;
}

int wait_exit_status(GatedChild& child) {
  for (int i = 0; i < 1000; ++i) {
    if (const auto status = child.try_reap()) return exit_status_of(*status);
    std::this_thread::sleep_for(5ms);
  }
  FAIL("the child did not end within 5 s");
  return -1;
}

}  // namespace

TEST_CASE("the command waits at the gate until it is released") {
  ScratchDir dir;
  const auto marker = dir.path / "ran";
  auto child = GatedChild::spawn({"/bin/sh", "-c", "touch " + marker.string()}, current_mask());
  std::this_thread::sleep_for(200ms);
  CHECK_FALSE(std::filesystem::exists(marker));
  CHECK_FALSE(child.try_reap().has_value());
  child.release();
  CHECK(wait_exit_status(child) == 0);
  CHECK(std::filesystem::exists(marker));
  CHECK(child.exec_error() == 0);
}

TEST_CASE("a command never released is killed before it runs") {
  ScratchDir dir;
  const auto marker = dir.path / "ran";
  pid_t pid = 0;
  {
    auto child = GatedChild::spawn({"/bin/sh", "-c", "touch " + marker.string()}, current_mask());
    pid = child.pid();
    CHECK(::kill(pid, 0) == 0);
  }
  // Killed and reaped: no such process any more.
  CHECK(::kill(pid, 0) == -1);
  CHECK(errno == ESRCH);
  std::this_thread::sleep_for(50ms);
  CHECK_FALSE(std::filesystem::exists(marker));
}

TEST_CASE("exit statuses follow the shell's convention") {
  const std::pair<const char*, int> cases[] = {
      {"exit 0", 0}, {"exit 3", 3}, {"exit 255", 255}, {"kill -9 $$", 137}, {"kill -TERM $$", 143}};
  for (const auto& [script, expected] : cases) {
    SUBCASE(script) {
      auto child = GatedChild::spawn({"/bin/sh", "-c", script}, current_mask());
      child.release();
      CHECK(wait_exit_status(child) == expected);
    }
  }
}

TEST_CASE("wait() blocks until the command ends") {
  auto child = GatedChild::spawn({"/bin/sh", "-c", "sleep 0.1; exit 4"}, current_mask());
  child.release();
  CHECK(exit_status_of(child.wait()) == 4);
  REQUIRE(child.try_reap().has_value());
  CHECK(exit_status_of(*child.try_reap()) == 4);
}

TEST_CASE("a command that cannot be run: 127 when missing, 126 when not executable") {
  SUBCASE("missing") {
    auto child = GatedChild::spawn({"/nonexistent/perfkvm-test-command"}, current_mask());
    child.release();
    CHECK(wait_exit_status(child) == 127);
    CHECK(child.exec_error() == ENOENT);
  }
  SUBCASE("not executable") {
    ScratchDir dir;
    const auto file = dir.path / "script";
    std::ofstream(file) << "#!/bin/sh\n";
    ::chmod(file.c_str(), 0644);
    auto child = GatedChild::spawn({file.string()}, current_mask());
    child.release();
    CHECK(wait_exit_status(child) == 126);
    CHECK(child.exec_error() == EACCES);
  }
}

TEST_CASE("forwarded signals reach the command") {
  auto child = GatedChild::spawn({"sleep", "10"}, current_mask());
  child.release();
  std::this_thread::sleep_for(100ms);
  child.forward(SIGINT);
  CHECK(wait_exit_status(child) == 128 + SIGINT);
}

TEST_CASE("signals sent to perfkvm alone are forwarded, the terminal's are not") {
  signalfd_siginfo info{};
  info.ssi_signo = SIGINT;
  info.ssi_code = SI_USER;
  CHECK(should_forward(info));
  info.ssi_signo = SIGTERM;
  CHECK(should_forward(info));
  info.ssi_code = SI_KERNEL;  // tty: the process group, the command included, got it already
  CHECK_FALSE(should_forward(info));
  info.ssi_signo = SIGCHLD;
  info.ssi_code = CLD_EXITED;
  CHECK_FALSE(should_forward(info));
}

TEST_CASE("SignalWatch reads blocked signals from its descriptor and drops leftovers") {
  {
    SignalWatch watch;
    CHECK(watch.take().empty());
    ::kill(::getpid(), SIGTERM);
    const auto taken = watch.take();
    REQUIRE(taken.size() == 1);
    CHECK(taken[0].ssi_signo == static_cast<unsigned>(SIGTERM));
    CHECK(taken[0].ssi_pid == static_cast<unsigned>(::getpid()));
    CHECK(should_forward(taken[0]));
    // Not taken: the destructor must drop it rather than let it terminate the process.
    ::kill(::getpid(), SIGTERM);
  }
  sigset_t mask = current_mask();
  CHECK_FALSE(sigismember(&mask, SIGTERM));
}
