// perfkvm-host's command line, run as the program itself (its options are bound in
// host-agent/admin/host_options.cpp and tested there in tests/unit/cli): these tests start the
// built binary (PERFKVM_HOST_EXE) with a libvirt test-driver fixture (tests/data/test-driver/admin-node.xml) and read what it prints
// and its exit status. `stat` counts the vCPU threads of a stand-in QEMU process (fake_qemu).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fake_qemu_process.hpp"
#include "cli/usage.hpp"
#include "perfkvm_config.hpp"
#include "test_data.hpp"

namespace {

using namespace std::chrono_literals;
using perfkvm::test::FakeQemuProcess;

struct Run {
  int status = -1;  // exit status; 128 + signal if killed
  std::string out;
  std::string err;
};

std::filesystem::path scratch_dir() {
  auto dir = std::filesystem::temp_directory_path() /
             ("perfkvm-admin-cli-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir;
}

// Removes the scratch directory when the tests end.
const struct ScratchCleanup {
  ~ScratchCleanup() {
    std::error_code ignored;
    std::filesystem::remove_all(std::filesystem::temp_directory_path() /
                                    ("perfkvm-admin-cli-" + std::to_string(::getpid())),
                                ignored);
  }
} scratch_cleanup;

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs perfkvm-host with `args`; stdout and stderr go to files (no pipe to fill up).
Run perfkvm_host(const std::vector<std::string>& args) {
  static int runs = 0;
  const auto dir = scratch_dir();
  const auto out_path = dir / ("out-" + std::to_string(++runs));
  const auto err_path = dir / ("err-" + std::to_string(runs));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::vector<std::string> all{"perfkvm-host"};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& arg : all) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int error = ::posix_spawn(&pid, PERFKVM_HOST_EXE, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  REQUIRE_MESSAGE(error == 0, "cannot start " PERFKVM_HOST_EXE ": " << std::strerror(error));

  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  pid_t done = 0;
  while ((done = ::waitpid(pid, &status, WNOHANG)) == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  if (done == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    FAIL("perfkvm-host did not exit within 30 s");
  }
  Run run;
  run.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  run.out = slurp(out_path);
  run.err = slurp(err_path);
  std::filesystem::remove(out_path);
  std::filesystem::remove(err_path);
  return run;
}

std::string fixture_uri() {
  return "test://" + (perfkvm::test::data_dir() / "test-driver" / "admin-node.xml").string();
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("perfkvm-host: a usage error exits with perf's usage status, before libvirt") {
  // No -c: had these got past parsing they would have failed to reach qemu:///system,
  // exit status 1.
  for (const auto& args : {std::vector<std::string>{}, std::vector<std::string>{"stat"},
                           std::vector<std::string>{"stat", "cli1", "-i", "0"},
                           std::vector<std::string>{"stat", "cli1", "-j", "-x", ";"}}) {
    std::string joined;
    for (const auto& arg : args) joined += arg + " ";
    CAPTURE(joined);
    const Run run = perfkvm_host(args);
    CAPTURE(run.err);
    CHECK(run.status == perfkvm::cli::kUsageExitStatus);
    CHECK(run.err.rfind("perfkvm-host: error: ", 0) == 0);
    CHECK(run.err.find("libvirt") == std::string::npos);
    CHECK(run.out.empty());
  }
  // --help and --version are no errors: stdout, status 0.
  const Run version = perfkvm_host({"--version"});
  CHECK(version.status == 0);
  CHECK(version.out == std::string("perfkvm-host ") + PERFKVM_VERSION + "\n");
  CHECK(version.err.empty());
  const Run help = perfkvm_host({"stat", "--help"});
  CHECK(help.status == 0);
  CHECK(contains(help.out, "Usage: perfkvm-host stat [OPTIONS] domain"));
}

TEST_CASE("perfkvm-host -c and --channel-name reach libvirt and the listing") {
  const Run nowhere = perfkvm_host({"-c", "test:///no/such/node.xml", "list"});
  CHECK(nowhere.status == 1);
  CHECK(contains(nowhere.err, "perfkvm-host: error: cannot connect to libvirt at "
                              "test:///no/such/node.xml"));

  const Run list = perfkvm_host({"-c", fixture_uri(), "list", "--json"});
  CAPTURE(list.err);
  REQUIRE(list.status == 0);
  const auto domains = boost::json::parse(list.out).as_array();
  REQUIRE(domains.size() == 2);
  CHECK(domains[0].at("name").as_string() == "cli-off");
  CHECK(domains[1].at("name").as_string() == "cli1");
  CHECK(domains[1].at("channel").as_string() == "/run/perfkvm-test/cli1.sock");

  const Run other = perfkvm_host(
      {"-c", fixture_uri(), "--channel-name", "org.qemu.guest_agent.0", "list", "--json"});
  REQUIRE(other.status == 0);
  CHECK(boost::json::parse(other.out).as_array()[1].at("channel").as_string() ==
        "/run/perfkvm-test/cli1.qga.sock");
}

TEST_CASE("perfkvm-host stat: a domain it cannot count is an error (status 1), with a message") {
  const std::string uri = fixture_uri();
  auto check_error = [&](std::vector<std::string> args, const std::string& message) {
    args.insert(args.begin(), {"-c", uri});
    const Run run = perfkvm_host(args);
    CAPTURE(run.err);
    CHECK(run.status == 1);
    CHECK(run.err == "perfkvm-host: error: " + message + "\n");
    CHECK(run.out.empty());
  };
  check_error({"stat", "nosuch"}, "domain 'nosuch' not found (perfkvm-host list shows the domains)");
  check_error({"stat", "cli-off"}, "domain 'cli-off' is not running");
  // The test driver has no QEMU process: the vCPU threads are not found.
  const Run no_qemu = perfkvm_host({"-c", uri, "stat", "cli1", "--duration", "0.1"});
  CHECK(no_qemu.status == 1);
  CHECK(contains(no_qemu.err, "perfkvm-host: error: cannot find the vCPU threads of domain "
                              "'cli1': "));
}

TEST_CASE("perfkvm-host stat -i -A -j --vcpu: interval lines for the chosen vCPUs, then totals") {
  FakeQemuProcess qemu("cli1", "6f1a52a4-6c0e-4b7e-9d3c-0a1b2c3d4e11");
  const Run run = perfkvm_host({"-c", fixture_uri(), "stat", "cli1", "-e", "task-clock", "-i",
                                "100", "--duration", "0.35", "-A", "-j", "--vcpu", "1"});
  CAPTURE(run.err);
  REQUIRE(run.status == 0);
  std::size_t intervals = 0, totals = 0;
  std::istringstream lines(run.out);
  for (std::string line; std::getline(lines, line);) {
    CAPTURE(line);
    const auto object = boost::json::parse(line).as_object();
    CHECK(object.at("event").as_string() == "task-clock");
    CHECK(object.at("vcpu").as_string() == "1");
    if (object.contains("interval")) {
      CHECK(totals == 0);
      ++intervals;
    } else {
      ++totals;
    }
  }
  CHECK(intervals >= 2);  // at 100, 200, 300 ms (a loaded host may miss the last)
  CHECK(intervals <= 3);
  CHECK(totals == 1);

  // -x: CSV with that separator; --vcpu 5 on a 2-vCPU domain is refused.
  const Run csv = perfkvm_host({"-c", fixture_uri(), "stat", "cli1", "-e", "task-clock",
                                "--duration", "0.1", "-x", ";"});
  CAPTURE(csv.err);
  REQUIRE(csv.status == 0);
  CHECK(contains(csv.out, ";msec;task-clock;"));
  const Run missing =
      perfkvm_host({"-c", fixture_uri(), "stat", "cli1", "--duration", "0.1", "--vcpu", "5"});
  CHECK(missing.status == 1);
  CHECK(missing.err ==
        "perfkvm-host: error: domain 'cli1' has no vCPU 5 (it has 2 vCPU threads)\n");

  // -o FILE: the report goes there, not to stdout.
  const auto file = scratch_dir() / "report.csv";
  const Run to_file = perfkvm_host({"-c", fixture_uri(), "stat", "cli1", "-e", "task-clock",
                                    "--duration", "0.1", "-x", ",", "-o", file.string()});
  CAPTURE(to_file.err);
  REQUIRE(to_file.status == 0);
  CHECK(to_file.out.empty());
  CHECK(contains(slurp(file), ",msec,task-clock,"));
  std::filesystem::remove(file);
}

namespace {

// A node of its own for `policy`: one domain whose metadata holds a policy element, one
// whose element cannot be parsed. Written at run time (each test-driver connection reads it
// afresh, so what one run of the program sets the next does not see).
std::string policy_node_uri() {
  const auto node = scratch_dir() / "policy-node.xml";
  std::ofstream(node) << R"(<node>
  <domain type='test'>
    <name>pol-good</name>
    <uuid>6f1a52a4-6c0e-4b7e-9d3c-0a1b2c3d4e21</uuid>
    <memory unit='MiB'>128</memory><vcpu>1</vcpu><os><type>hvm</type></os>
    <metadata>
      <perfkvm:policy xmlns:perfkvm='https://perfkvm.org/xmlns/policy/1' max-sessions='8'>
        <perfkvm:modes><perfkvm:mode name='guest'/></perfkvm:modes>
      </perfkvm:policy>
    </metadata>
  </domain>
  <domain type='test'>
    <name>pol-broken</name>
    <uuid>6f1a52a4-6c0e-4b7e-9d3c-0a1b2c3d4e22</uuid>
    <memory unit='MiB'>128</memory><vcpu>1</vcpu><os><type>hvm</type></os>
    <metadata>
      <perfkvm:policy xmlns:perfkvm='https://perfkvm.org/xmlns/policy/1' max-event='8'/>
    </metadata>
  </domain>
</node>
)";
  return "test://" + node.string();
}

}  // namespace

TEST_CASE("perfkvm-host policy: usage errors exit with perf's usage status, before libvirt") {
  for (const auto& args : {
           std::vector<std::string>{"policy", "set", "pol-good"},
           std::vector<std::string>{"policy", "set", "pol-good", "--allow", "--deny"},
           std::vector<std::string>{"policy", "set", "pol-good", "--events", "software,cycels"},
           std::vector<std::string>{"policy", "set", "pol-good", "--min-interval", "0"},
           std::vector<std::string>{"policy", "clear"},
       }) {
    std::string joined;
    for (const auto& arg : args) joined += arg + " ";
    CAPTURE(joined);
    const Run run = perfkvm_host(args);  // no -c: qemu:///system, had it got that far
    CAPTURE(run.err);
    CHECK(run.status == perfkvm::cli::kUsageExitStatus);
    CHECK(run.err.rfind("perfkvm-host: error: ", 0) == 0);
    CHECK(run.err.find("libvirt") == std::string::npos);
    CHECK(run.out.empty());
  }
  CHECK(contains(perfkvm_host({"policy", "set", "x", "--events", "cycels"}).err,
                 "perfkvm-host: error: --events: events list: 'cycels' is neither an event"));
}

TEST_CASE("perfkvm-host policy show, set, clear: the program against the test driver") {
  const std::string uri = policy_node_uri();
  const auto hostd_config = scratch_dir() / "hostd.conf";
  std::ofstream(hostd_config) << "default-policy = \"deny\"\nmax-sessions = 2\n";

  const Run shown = perfkvm_host(
      {"-c", uri, "policy", "show", "pol-good", "--hostd-config", hostd_config.string()});
  CAPTURE(shown.err);
  CHECK(shown.status == 0);
  CHECK(shown.out == "host defaults and limits: " + hostd_config.string() + "\n" +
                         "guest-requests: deny (default)\n"
                         "events: all (default)\n"
                         "min-interval-ms: 10 (default)\n"
                         "max-sessions: 2 (host limit; the domain asks for 8)\n"
                         "max-events: 32 (default)\n"
                         "modes: guest (domain)\n"
                         "export: yes (default)\n");

  // A broken element: the parse error, what and where, and status 1.
  const Run broken = perfkvm_host(
      {"-c", uri, "policy", "show", "pol-broken", "--hostd-config", hostd_config.string()});
  CHECK(broken.status == 1);
  CHECK(broken.out.empty());
  CHECK(contains(broken.err, "perfkvm-host: error: domain 'pol-broken': its perfkvm policy "
                             "cannot be read: policy XML: line 1: <policy> has an unknown "
                             "attribute 'max-event'"));
  CHECK(contains(broken.err, "perfkvm-hostd denies every request of its guest"));

  // set keeps the element's other fields; clear removes it.
  const Run set = perfkvm_host({"policy", "set", "pol-good", "--deny", "-c", uri});
  CAPTURE(set.err);
  CHECK(set.status == 0);
  CHECK(set.out ==
        "domain 'pol-good': perfkvm policy set (live): guest-requests: deny; max-sessions: 8; "
        "modes: guest\n");
  const Run cleared = perfkvm_host({"-c", uri, "policy", "clear", "pol-good", "--live"});
  CHECK(cleared.status == 0);
  CHECK(cleared.out == "domain 'pol-good': perfkvm policy removed (live)\n");

  const Run missing = perfkvm_host({"-c", uri, "policy", "show", "pol-good", "--hostd-config",
                                    (scratch_dir() / "none.conf").string()});
  CHECK(missing.status == 1);
  CHECK(missing.err == "perfkvm-host: error: cannot read hostd's config file " +
                           (scratch_dir() / "none.conf").string() +
                           ": No such file or directory\n");
  std::filesystem::remove(hostd_config);
}
