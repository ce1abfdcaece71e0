#include <doctest/doctest.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

#include "host-agent/hostd/hostd_options.hpp"
#include "host-agent/hostd/privileges.hpp"

using namespace perfkvm::host;

namespace {

HostdOptions parse(std::vector<std::string> args) {
  CLI::App app;
  HostdOptions options;
  add_hostd_options(app, options);
  std::reverse(args.begin(), args.end());  // CLI11 takes them last-first
  app.parse(args);
  return options;
}

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif

constexpr uid_t kNobody = 65534;

// What a process with other credentials than the test's sees: perf_privilege_problems() there,
// and the kernel's own answer to the question it stands for (perf_event_open of a software
// event on a thread of another user's process, as QEMU's are to hostd).
struct Verdict {
  uid_t euid = 0;
  std::vector<std::string> problems;
  int open_errno = 0;  // 0: the kernel let it count
};

std::uint32_t cap_bits(std::initializer_list<int> caps, int word) {
  std::uint32_t bits = 0;
  for (const int cap : caps) {
    if (cap / 32 == word) bits |= 1u << (cap % 32);
  }
  return bits;
}

// Another user's process to count: a child that drops to uid 65533 and waits to be killed.
class OtherUsersProcess {
 public:
  OtherUsersProcess() {
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      if (::setresgid(kNobody - 1, kNobody - 1, kNobody - 1) != 0 ||
          ::setresuid(kNobody - 1, kNobody - 1, kNobody - 1) != 0) {
        ::_exit(2);
      }
      for (;;) ::pause();
    }
    // Its credentials are set before anything counts it: wait until /proc says so.
    for (int i = 0; i < 1000 && owner() != kNobody - 1; ++i) ::usleep(1000);
    REQUIRE(owner() == kNobody - 1);
  }
  ~OtherUsersProcess() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  OtherUsersProcess(const OtherUsersProcess&) = delete;
  OtherUsersProcess& operator=(const OtherUsersProcess&) = delete;
  pid_t pid() const { return pid_; }

 private:
  uid_t owner() const {
    std::ifstream status("/proc/" + std::to_string(pid_) + "/status");
    for (std::string line; std::getline(status, line);) {
      unsigned long real = 0, effective = 0;
      if (std::sscanf(line.c_str(), "Uid: %lu %lu", &real, &effective) == 2) {
        return static_cast<uid_t>(effective);
      }
    }
    return static_cast<uid_t>(-1);
  }
  pid_t pid_ = -1;
};

// A forked child takes uid/gid `uid` (65534, or stays 0) keeping its capabilities
// (PR_SET_KEEPCAPS), then sets exactly `effective` and `permitted` (capset(2)), and counts
// `target`; it reports through a pipe.
Verdict as_user(uid_t uid, std::initializer_list<int> effective,
                std::initializer_list<int> permitted, pid_t target) {
  REQUIRE_MESSAGE(::geteuid() == 0, "the privilege tests drop root's credentials in a child");
  const pid_t parent = target;
  int pipe_fds[2];
  REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(pipe_fds[0]);
    const int out = pipe_fds[1];
    auto say = [out](const std::string& text) {
      for (std::size_t done = 0; done < text.size();) {
        const ssize_t n = ::write(out, text.data() + done, text.size() - done);
        if (n <= 0) ::_exit(3);
        done += static_cast<std::size_t>(n);
      }
    };
    auto fail = [&](const char* step) {
      say(std::string("setup failed: ") + step + ": " + std::strerror(errno));
      ::_exit(2);
    };
    if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) fail("PR_SET_KEEPCAPS");
    if (::setgroups(0, nullptr) != 0) fail("setgroups");
    if (uid != 0 && ::setresgid(uid, uid, uid) != 0) fail("setresgid");
    if (uid != 0 && ::setresuid(uid, uid, uid) != 0) fail("setresuid");
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
    for (int word = 0; word < _LINUX_CAPABILITY_U32S_3; ++word) {
      data[word].effective = cap_bits(effective, word);
      data[word].permitted = cap_bits(permitted, word);
    }
    if (::syscall(SYS_capset, &header, data) != 0) fail("capset");

    const auto problems = perf_privilege_problems();
    perf_event_attr attr{};
    attr.size = sizeof attr;
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_TASK_CLOCK;
    attr.disabled = 1;
    const long fd = ::syscall(SYS_perf_event_open, &attr, parent, -1, -1,
                              static_cast<unsigned long>(PERF_FLAG_FD_CLOEXEC));
    const int open_errno = fd < 0 ? errno : 0;
    std::string report = "ok " + std::to_string(::geteuid()) + " " +
                         std::to_string(open_errno) + " " + std::to_string(problems.size()) + "\n";
    for (const auto& problem : problems) report += problem + '\0';
    say(report);
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  std::string text;
  char buffer[4096];
  for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    REQUIRE(n > 0);
    text.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(pipe_fds[0]);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  INFO("child said: " << text);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);

  Verdict verdict;
  const auto newline = text.find('\n');
  REQUIRE(newline != std::string::npos);
  unsigned long euid = 0, count = 0;
  int open_errno = 0;
  REQUIRE(std::sscanf(text.substr(0, newline).c_str(), "ok %lu %d %lu", &euid, &open_errno,
                      &count) == 3);
  verdict.euid = static_cast<uid_t>(euid);
  verdict.open_errno = open_errno;
  for (std::size_t at = newline + 1; at < text.size();) {
    const auto end = text.find('\0', at);
    REQUIRE(end != std::string::npos);
    verdict.problems.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  REQUIRE(verdict.problems.size() == count);
  return verdict;
}

// As uid 65534, counting this test process (root's).
Verdict as_nobody(std::initializer_list<int> effective, std::initializer_list<int> permitted) {
  return as_user(kNobody, effective, permitted, ::getpid());
}

std::string paranoid_level() {
  std::ifstream in("/proc/sys/kernel/perf_event_paranoid");
  std::string level;
  in >> level;
  return level;
}

}  // namespace

TEST_CASE("hostd defaults: qemu:///system, org.perfkvm.0, vsock 9999, 10 ms, 10 s lease") {
  const auto options = parse({});
  CHECK(options.uri == "qemu:///system");
  CHECK(options.channel_name == "org.perfkvm.0");
  CHECK(options.vsock);
  CHECK(options.vsock_port == 9999);
  CHECK(options.session.min_interval_ms == 10);
  CHECK(options.session.lease_ms == 10000);
  CHECK(options.session.max_counters == 4096);
  CHECK(options.session.host_counters->limit() == 65536);
  CHECK(options.session.max_starts_per_second == 20);
  CHECK(options.session.max_counter_opens_per_second == 4096);
  CHECK(options.session.max_domain_counters == 8192);
  CHECK(options.session.max_domain_reads_per_second == 200000);
  CHECK(options.paths.proc_root == "/proc");
}

TEST_CASE("hostd options set every limit") {
  const auto options =
      parse({"--connect", "test:///default", "--channel-name", "org.example.0", "--no-vsock",
             "--min-interval", "1", "--max-events", "8", "--max-sessions", "2", "--max-frame",
             "65536", "--lease", "3000", "--max-queued-samples", "16", "--proc-root", "/tmp/p",
             "--max-counters", "100", "--max-host-counters", "1000", "--max-starts", "5",
             "--max-counter-opens", "300", "--max-domain-counters", "500",
             "--max-counter-reads", "7000", "-v"});
  CHECK(options.uri == "test:///default");
  CHECK(options.channel_name == "org.example.0");
  CHECK_FALSE(options.vsock);
  CHECK(options.session.min_interval_ms == 1);
  CHECK(options.session.max_events == 8);
  CHECK(options.session.max_sessions == 2);
  CHECK(options.session.max_frame_bytes == 65536);
  CHECK(options.session.lease_ms == 3000);
  CHECK(options.session.max_queued_samples == 16);
  CHECK(options.session.max_counters == 100);
  CHECK(options.session.host_counters->limit() == 1000);
  CHECK(options.session.max_starts_per_second == 5);
  CHECK(options.session.max_counter_opens_per_second == 300);
  CHECK(options.session.max_domain_counters == 500);
  CHECK(options.session.max_domain_reads_per_second == 7000);
  CHECK(options.paths.proc_root == "/tmp/p");
  CHECK(options.log_level == perfkvm::log::Level::debug);
  const auto limits = options.session.limits();
  CHECK(limits.max_sessions == 2);
  CHECK(limits.lease_ms == 3000);
}

TEST_CASE("hostd options out of range are refused") {
  CHECK_THROWS_AS(parse({"--min-interval", "0"}), CLI::ValidationError);
  CHECK_THROWS_AS(parse({"--max-events", "65"}), CLI::ValidationError);
  CHECK_THROWS_AS(parse({"--max-frame", "2000000"}), CLI::ValidationError);
  CHECK_THROWS_AS(parse({"--lease", "5"}), CLI::ValidationError);
  CHECK_THROWS_AS(parse({"--max-host-counters", "0"}), CLI::ValidationError);
  CHECK_THROWS_AS(parse({"--frobnicate"}), CLI::ExtrasError);
}

TEST_CASE("privilege check: an unprivileged uid without CAP_PERFMON is told what is missing") {
  const Verdict verdict = as_nobody({}, {});
  CHECK(verdict.euid == kNobody);
  // The kernel agrees that it cannot count another user's threads.
  CHECK(verdict.open_errno == EACCES);
  REQUIRE(verdict.problems.size() == 1);
  const std::string& problem = verdict.problems[0];
  CHECK(problem.find("neither CAP_PERFMON nor CAP_SYS_ADMIN") != std::string::npos);
  CHECK(problem.find("setcap cap_perfmon+ep perfkvm-hostd") != std::string::npos);
  const std::string level = paranoid_level();
  REQUIRE_FALSE(level.empty());
  CHECK(problem.find("(kernel.perf_event_paranoid = " + level + ")") != std::string::npos);
}

TEST_CASE("privilege check: CAP_PERFMON that is permitted but not effective is not enough") {
  const Verdict verdict = as_nobody({}, {CAP_PERFMON});
  CHECK(verdict.euid == kNobody);
  CHECK(verdict.open_errno == EACCES);
  REQUIRE(verdict.problems.size() == 1);
  CHECK(verdict.problems[0].find("CAP_PERFMON") != std::string::npos);
}

TEST_CASE("privilege check: an unprivileged uid with CAP_PERFMON or CAP_SYS_ADMIN is fine") {
  for (const int cap : {CAP_PERFMON, CAP_SYS_ADMIN}) {
    CAPTURE(cap);
    const Verdict verdict = as_nobody({cap}, {cap});
    CHECK(verdict.euid == kNobody);
    // The kernel lets it count another user's threads, and the check does not complain.
    CHECK(verdict.open_errno == 0);
    CHECK(verdict.problems.empty());
  }
}

TEST_CASE("privilege check: root without its capabilities is told what is missing") {
  // As under a unit whose capability bounding set lacks them: uid 0 is no help with another
  // user's threads (QEMU runs as libvirt-qemu).
  OtherUsersProcess qemu_stand_in;
  const Verdict without = as_user(0, {}, {}, qemu_stand_in.pid());
  CHECK(without.euid == 0);
  CHECK(without.open_errno == EACCES);
  REQUIRE(without.problems.size() == 1);
  CHECK(without.problems[0].find("neither CAP_PERFMON nor CAP_SYS_ADMIN") != std::string::npos);
  const Verdict with = as_user(0, {CAP_PERFMON}, {CAP_PERFMON}, qemu_stand_in.pid());
  CHECK(with.open_errno == 0);
  CHECK(with.problems.empty());
}

TEST_CASE("hostd default policy: allow, every event, exported; --default-* set each field") {
  CHECK(parse({}).session.policy_defaults == DomainPolicy{});
  const auto options = parse({"--default-policy", "deny", "--default-events",
                              "software,instructions", "--default-export", "no"});
  DomainPolicy expected;
  expected.guest_requests = GuestRequests::deny;
  expected.events = parse_event_list("software,instructions");
  expected.export_counted = false;
  CHECK(options.session.policy_defaults == expected);
  CHECK_THROWS_AS(parse({"--default-policy", "maybe"}), CLI::ValidationError);
  CHECK_THROWS_WITH_AS(parse({"--default-events", "software,cycels"}),
                       doctest::Contains("'cycels' is neither an event nor a class"),
                       CLI::ValidationError);
}

TEST_CASE("hostd --config FILE: options from the file, the command line over them, no typos") {
  const std::string path =
      "/tmp/perfkvm-hostd-options-config-" + std::to_string(::getpid()) + ".conf";
  std::ofstream(path) << "# the host's defaults\n"
                         "default-policy = \"deny\"\n"
                         "max-sessions = 2\n"
                         "min-interval = 50\n"
                         "metrics-listen = \"127.0.0.1:9477\"\n"
                         "default-events = software,instructions\n"
                         "metrics-events = task-clock,cs\n";
  const auto options = parse({"--config", path, "--min-interval", "20"});
  CHECK(options.session.policy_defaults.guest_requests == GuestRequests::deny);
  CHECK(options.session.max_sessions == 2);
  CHECK(options.session.min_interval_ms == 20);  // the command line wins
  CHECK(options.metrics.listen == "127.0.0.1:9477");
  // Unquoted lists are lists (CLI11 would otherwise read them as two values).
  CHECK(options.session.policy_defaults.events == parse_event_list("software,instructions"));
  CHECK(options.metrics.events == std::vector<std::string>{"task-clock", "cs"});
  std::ofstream(path) << "max-sesions = 2\n";
  CHECK_THROWS_AS(parse({"--config", path}), CLI::ConfigError);
  std::ofstream(path) << "max-sessions = 0\n";
  CHECK_THROWS_AS(parse({"--config", path}), CLI::ValidationError);
  std::remove(path.c_str());
  CHECK_THROWS_AS(parse({"--config", path}), CLI::ValidationError);  // no such file
}

TEST_CASE("the shipped hostd.conf parses as it is, and with every example line switched on") {
  const std::string shipped = std::string(PERFKVM_TEST_DATA_DIR) + "/../../host-agent/hostd.conf";
  std::ifstream in(shipped);
  REQUIRE_MESSAGE(in, "cannot read " << shipped);
  const auto as_shipped = parse({"--config", shipped});
  CHECK(as_shipped.session.policy_defaults == DomainPolicy{});
  CHECK(as_shipped.session.max_sessions == 4);
  // "# name = value" lines become settings, except the TLS files, which must exist.
  const std::string path =
      "/tmp/perfkvm-hostd-options-examples-" + std::to_string(::getpid()) + ".conf";
  std::ofstream out(path);
  int switched_on = 0;
  for (std::string line; std::getline(in, line);) {
    const bool example = line.rfind("# ", 0) == 0 && line.find(" = ") != std::string::npos &&
                         line.find(' ', 2) == line.find(" = ");
    if (example && line.find("tls") == std::string::npos && line.find("-ca") == std::string::npos) {
      line.erase(0, 2);
      ++switched_on;
    }
    out << line << "\n";
  }
  out.close();
  CHECK(switched_on >= 12);
  const auto examples = parse({"--config", path});
  CHECK(examples.session.policy_defaults.guest_requests == GuestRequests::allow);
  CHECK(examples.session.policy_defaults.events == parse_event_list("software,instructions"));
  CHECK(examples.metrics.min_read_interval == std::chrono::milliseconds(1000));
  std::remove(path.c_str());
}

TEST_CASE("hostd metrics options: off by default; 1 s minimum read interval") {
  const auto options = parse({});
  CHECK_FALSE(options.metrics.enabled());
  CHECK(options.metrics.events.empty());  // the default set, decided from the host's probe
  CHECK(options.metrics.mode == perfkvm::protocol::StartMode::all);
  CHECK(options.metrics.min_read_interval == std::chrono::milliseconds(1000));
}

TEST_CASE("hostd metrics options: listen address, events as spelt, mode, interval, TLS files") {
  const std::string pem = "/tmp/perfkvm-hostd-options-" + std::to_string(::getpid()) + ".pem";
  std::ofstream(pem) << "not checked here\n";
  const auto options = parse({"--metrics-listen", "[::1]:9477", "--metrics-events", "cs,cycles",
                              "--metrics-mode", "both", "--metrics-min-read-interval", "250",
                              "--metrics-tls-cert", pem, "--metrics-tls-key", pem,
                              "--metrics-client-ca", pem});
  std::remove(pem.c_str());
  CHECK(options.metrics.enabled());
  CHECK(options.metrics.listen == "[::1]:9477");
  CHECK(options.metrics.events == std::vector<std::string>{"cs", "cycles"});
  CHECK(options.metrics.mode == perfkvm::protocol::StartMode::both);
  CHECK(options.metrics.min_read_interval == std::chrono::milliseconds(250));
  CHECK(options.metrics.tls_cert == pem);
  CHECK(options.metrics.client_ca == pem);
}

TEST_CASE("hostd metrics options: a hostname, an unknown event, a bad mode, TLS halves are refused") {
  CHECK_THROWS_AS(parse({"--metrics-listen", "localhost:9477"}), CLI::ValidationError);
  CHECK_THROWS_AS(parse({"--metrics-listen", "127.0.0.1"}), CLI::ValidationError);
  CHECK_THROWS_AS(parse({"--metrics-events", "task-clock,bogus"}), CLI::ValidationError);
  CHECK_THROWS_AS(parse({"--metrics-mode", "sideways"}), CLI::ValidationError);
  CHECK_THROWS_AS(parse({"--metrics-tls-cert", "/nonexistent/cert.pem"}), CLI::ValidationError);
  const std::string pem = "/tmp/perfkvm-hostd-options-half-" + std::to_string(::getpid()) + ".pem";
  std::ofstream(pem) << "x\n";
  CHECK_THROWS_AS(parse({"--metrics-tls-cert", pem}), CLI::RequiresError);
  CHECK_THROWS_AS(parse({"--metrics-client-ca", pem}), CLI::RequiresError);
  std::remove(pem.c_str());
}
