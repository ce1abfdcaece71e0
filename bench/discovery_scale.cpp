// Discovery at scale: the real perfkvm-hostd against libvirt's test driver with N (1,000)
// running domains, each with a perfkvm virtio-serial channel whose unix socket this program
// listens on, as QEMU would. Figures, each run R times (median; the range goes in the note):
//   - hostd start (posix_spawn) -> its log has said "domain '...' is running: channel ..."
//     for all N domains (the reader of its stderr sees the Nth line): target < 1 s;
//   - hostd start -> a guest on each of the N channels has its welcome: the stronger signal
//     (hostd discovered the domain, connected to its channel and serves the protocol on it);
//     this program sends a hello on each channel as soon as hostd connects; same target.
//     Baseline of both: `virsh -c URI list --all --name` over the same node, start to exit;
//   - hostd's VmRSS once all N domains are discovered and their channels connected, idle (no
//     hello) and 200 ms later, so that it has settled: target <= 20 MiB + 10 KiB per domain;
//     baseline: hostd on an empty node. The test driver keeps every domain's definition in
//     hostd's own process (with qemu:/// they live in libvirtd): the note says how much that
//     is, as virsh's peak RSS on this node over its peak on the empty one.
// The node XML, the sockets and everything else live in a fresh temp dir, removed at exit.
//
//   discovery_scale [--hostd PATH] [--domains N] [--runs R] [--json FILE]
// prints one line per figure and appends them as JSON lines to FILE (the format of
// bench/sampling_cost.cpp; scripts/bench.sh makes the table). Exit status 1 when a run could
// not be measured (hostd died or never got there), not when a target is missed.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bench/figures.hpp"
#include "util/unique_fd.hpp"
#include "protocol/codec.hpp"

extern char** environ;

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr double kRssBaseMiB = 20;
constexpr double kRssPerDomainKiB = 10;
constexpr auto kTimeTarget = 1000ms;
constexpr auto kGiveUp = 30s;        // a run that has not finished by then is a failure
constexpr auto kSettle = 200ms;      // before VmRSS is read

std::runtime_error failure(const std::string& what) {
  return std::runtime_error(what + ": " + std::strerror(errno));
}

double ms_since(Clock::time_point start, Clock::time_point end) {
  return std::chrono::duration<double, std::milli>(end - start).count();
}

using Fd = perfkvm::UniqueFd;

struct TempDir {
  fs::path path;
  TempDir() {
    // Short on purpose: the channel sockets' paths must fit sockaddr_un's 108 bytes.
    std::string pattern = "/tmp/perfkvm-bench-XXXXXX";
    if (!::mkdtemp(pattern.data())) throw failure("cannot create a temp dir in /tmp");
    path = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

fs::path socket_path(const fs::path& dir, std::size_t i) {
  return dir / ("d" + std::to_string(i) + ".sock");
}

// The test driver's node: N running domains (the driver starts every domain of a node file),
// each with a perfkvm channel bound to a socket in `dir` and a guest-agent channel beside it,
// as a real domain has.
fs::path write_node(const fs::path& dir, const std::string& file, std::size_t domains) {
  const fs::path path = dir / file;
  std::ofstream out(path);
  out << "<node>\n<cpu><nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>1</threads>"
         "<active>4</active><mhz>2400</mhz><model>x86_64</model></cpu>\n"
         "<memory>67108864</memory>\n";
  for (std::size_t i = 0; i < domains; ++i) {
    char uuid[64];
    std::snprintf(uuid, sizeof uuid, "6f1a52a4-6c0e-4b7e-9d3c-%012zx", i + 1);
    out << "<domain type='test'><name>bench" << i << "</name><uuid>" << uuid
        << "</uuid><memory unit='MiB'>64</memory><vcpu>2</vcpu>"
           "<os><type arch='x86_64'>hvm</type></os><devices>"
           "<channel type='unix'><source mode='bind' path='"
        << (dir / ("d" + std::to_string(i) + ".qga")).string()
        << "'/><target type='virtio' name='org.qemu.guest_agent.0'/></channel>"
           "<channel type='unix'><source mode='bind' path='"
        << socket_path(dir, i).string()
        << "'/><target type='virtio' name='org.perfkvm.0'/></channel>"
           "</devices></domain>\n";
  }
  out << "</node>\n";
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path.string());
  return path;
}

const std::string kNonce = "d5e3f4a6b7c8091a2b3c4d5e6f708192";

// QEMU's side of every channel: a listening socket each, watched by one epoll set. With
// `hello`, a guest on each channel too: it sends a hello as soon as hostd connects, and
// counts the welcomes.
class Listeners {
 public:
  Listeners(const fs::path& dir, std::size_t count, bool hello)
      : epoll_(::epoll_create1(EPOLL_CLOEXEC)),
        hello_(hello ? perfkvm::protocol::encode_message(
                           perfkvm::protocol::Hello{kNonce, 1, 1, "discovery_scale", "0"})
                     : std::string()) {
    if (epoll_.get() < 0) throw failure("epoll_create1");
    for (std::size_t i = 0; i < count; ++i) {
      const fs::path path = socket_path(dir, i);
      fs::remove(path);
      Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      if (fd.get() < 0) throw failure("socket for " + path.string());
      sockaddr_un address{};
      address.sun_family = AF_UNIX;
      if (path.string().size() >= sizeof address.sun_path) {
        throw std::runtime_error("socket path too long: " + path.string());
      }
      std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
      if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
          ::listen(fd.get(), 4) != 0) {
        throw failure("cannot listen on " + path.string());
      }
      epoll_event event{};
      event.events = EPOLLIN;
      event.data.u64 = i;
      if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd.get(), &event) != 0) {
        throw failure("epoll_ctl");
      }
      listening_.push_back(std::move(fd));
    }
    accepted_.resize(count);
    decoders_.resize(hello ? count : 0);
    welcomed_.resize(hello ? count : 0);
  }

  // Accepts what is pending (and reads welcomes), waiting at most `wait`.
  void poll_for(std::chrono::milliseconds wait) {
    epoll_event events[64];
    const int ready = ::epoll_wait(epoll_.get(), events, 64, static_cast<int>(wait.count()));
    const std::size_t count = listening_.size();
    for (int e = 0; e < ready; ++e) {
      const std::size_t key = events[e].data.u64;
      if (key >= count) {
        read_welcome(key - count);
        continue;
      }
      Fd fd(::accept4(listening_[key].get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (fd.get() < 0) continue;
      // One connection per channel, as QEMU serves one client: keep it open and stop
      // watching the listener. Without a hello hostd's session waits, as for an idle guest.
      ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listening_[key].get(), nullptr);
      if (!hello_.empty()) {
        if (::send(fd.get(), hello_.data(), hello_.size(), MSG_NOSIGNAL) !=
            static_cast<ssize_t>(hello_.size())) {
          throw failure("cannot send a hello on channel " + std::to_string(key));
        }
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.u64 = count + key;
        if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd.get(), &event) != 0) {
          throw failure("epoll_ctl");
        }
      }
      if (accepted_[key].get() < 0) ++accepted_count_;
      accepted_[key] = std::move(fd);
    }
  }
  std::size_t accepted() const { return accepted_count_; }
  std::size_t welcomed() const { return welcomed_count_; }

 private:
  void read_welcome(std::size_t i) {
    char buffer[1 << 16];
    for (;;) {
      const ssize_t n = ::recv(accepted_[i].get(), buffer, sizeof buffer, 0);
      if (n <= 0) {
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
          ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, accepted_[i].get(), nullptr);
        }
        return;
      }
      std::string_view input(buffer, static_cast<std::size_t>(n));
      while (auto payload = decoders_[i].next(input)) {
        const auto parsed = perfkvm::protocol::parse_message(*payload);
        const auto* message = std::get_if<perfkvm::protocol::Message>(&parsed);
        if (message && std::holds_alternative<perfkvm::protocol::Welcome>(*message) &&
            !welcomed_[i]) {
          welcomed_[i] = true;
          ++welcomed_count_;
        }
      }
    }
  }

  Fd epoll_;
  std::string hello_;
  std::vector<Fd> listening_;
  std::vector<Fd> accepted_;
  std::vector<perfkvm::protocol::FrameDecoder> decoders_;
  std::vector<bool> welcomed_;
  std::size_t accepted_count_ = 0;
  std::size_t welcomed_count_ = 0;
};

// A child process with its stderr (or stdout) read line by line on a thread of ours.
class Child {
 public:
  // `watch` sees each line as it arrives, on the reader thread.
  Child(const std::vector<std::string>& args, int read_fd_of_child,
        std::function<void(const std::string&)> watch)
      : watch_(std::move(watch)) {
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw failure("pipe2");
    Fd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, write_end.get(), read_fd_of_child);
    std::vector<std::string> copy = args;
    std::vector<char*> argv;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    started_ = Clock::now();
    const int spawned = ::posix_spawnp(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) {
      pid_ = -1;
      errno = spawned;
      throw failure("cannot start " + args[0]);
    }
    write_end.reset();
    reader_ = std::thread([this, fd = std::move(read_end)] { read_lines(fd.get()); });
  }
  ~Child() {
    terminate();
    if (reader_.joinable()) reader_.join();
  }
  Clock::time_point started() const { return started_; }
  pid_t pid() const { return pid_; }

  // True while the process runs (reaps it when it has ended).
  bool running() {
    if (pid_ <= 0 || exited_) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      status_ = status;
      ended_ = Clock::now();
    }
    return !exited_;
  }
  // Waits for the process to end by itself; returns its wait status.
  int wait() {
    if (!exited_) {
      rusage usage{};
      ::wait4(pid_, &status_, 0, &usage);
      ended_ = Clock::now();
      exited_ = true;
      max_rss_kib_ = static_cast<double>(usage.ru_maxrss);
    }
    if (reader_.joinable()) reader_.join();
    return status_;
  }
  Clock::time_point ended() const { return ended_; }
  // Peak RSS, known once wait() has reaped the process.
  double max_rss_kib() const { return max_rss_kib_; }

  // SIGTERM, then SIGKILL if it has not ended within 3 s.
  void terminate() {
    if (pid_ <= 0 || !running()) return;
    ::kill(pid_, SIGTERM);
    const auto deadline = Clock::now() + 3s;
    while (running() && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
    if (running()) {
      ::kill(pid_, SIGKILL);
      wait();
    }
  }

 private:
  void read_lines(int fd) {
    std::string pending;
    char buffer[1 << 16];
    for (;;) {
      const ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      pending.append(buffer, static_cast<std::size_t>(n));
      std::size_t start = 0;
      for (std::size_t end; (end = pending.find('\n', start)) != std::string::npos;
           start = end + 1) {
        watch_(pending.substr(start, end - start));
      }
      pending.erase(0, start);
    }
    if (!pending.empty()) watch_(pending);
  }

  std::function<void(const std::string&)> watch_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = 0;
  double max_rss_kib_ = 0;
  Clock::time_point started_{}, ended_{};
  std::thread reader_;
};

std::string describe(int wait_status) {
  if (WIFEXITED(wait_status)) return "exit status " + std::to_string(WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) return "killed by signal " + std::to_string(WTERMSIG(wait_status));
  return "wait status " + std::to_string(wait_status);
}

std::optional<double> vm_rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6));
  }
  return std::nullopt;
}

// What hostd's log said, as its reader thread saw it.
struct LogWatch {
  std::mutex mutex;
  std::size_t running_lines = 0;
  std::optional<Clock::time_point> connected_at;   // "connected to libvirt at"
  std::optional<Clock::time_point> all_running_at;  // the Nth "is running: channel"
  std::size_t problems = 0;                         // warning and error lines
  std::string first_problem;
  std::size_t want = 0;

  void operator()(const std::string& line) {
    const auto now = Clock::now();
    std::lock_guard lock(mutex);
    if (line.find("connected to libvirt at") != std::string::npos && !connected_at) {
      connected_at = now;
    }
    if (line.find("' is running: channel ") != std::string::npos &&
        ++running_lines == want && want > 0) {
      all_running_at = now;
    }
    if (line.find(": warning: ") != std::string::npos ||
        line.find(": error: ") != std::string::npos) {
      if (problems++ == 0) first_problem = line;
    }
  }
};

struct HostdRun {
  double discovered_ms = 0;
  double done_ms = 0;  // all connected, or with hello all welcomed
  double rss_mib = 0;
  std::size_t problems = 0;
  std::string first_problem;
};

std::vector<std::string> hostd_args(const std::string& hostd, const fs::path& node) {
  return {hostd, "--connect", "test://" + node.string(), "--no-vsock", "-v"};
}

// hostd on the node of `domains` channels, until all are discovered and connected (with
// `hello`: until every guest has its welcome); throws when it does not get there.
HostdRun run_hostd(const std::string& hostd, const fs::path& dir, const fs::path& node,
                   std::size_t domains, bool hello) {
  Listeners listeners(dir, domains, hello);  // fresh: nothing left over from an earlier run
  LogWatch log;
  log.want = domains;
  Child child(hostd_args(hostd, node), STDERR_FILENO, std::ref(log));
  const auto deadline = child.started() + kGiveUp;
  std::optional<Clock::time_point> connected_at;
  for (;;) {
    listeners.poll_for(5ms);
    if (!connected_at && (hello ? listeners.welcomed() : listeners.accepted()) == domains) {
      connected_at = Clock::now();
    }
    bool logged;
    {
      std::lock_guard lock(log.mutex);
      logged = log.all_running_at.has_value();
    }
    if (connected_at && logged) break;
    if (!child.running()) {
      throw std::runtime_error(hostd + " exited (" + describe(child.wait()) + ") before serving all " +
                               std::to_string(domains) + " domains (" +
                               std::to_string(listeners.accepted()) + " connected, " +
                               std::to_string(listeners.welcomed()) + " welcomed); its log: " +
                               log.first_problem);
    }
    if (Clock::now() > deadline) {
      std::lock_guard lock(log.mutex);
      throw std::runtime_error("after 30 s " + hostd + " had logged " +
                               std::to_string(log.running_lines) + ", connected " +
                               std::to_string(listeners.accepted()) + " and welcomed " +
                               std::to_string(listeners.welcomed()) + " of " +
                               std::to_string(domains) + " domains" +
                               (log.first_problem.empty() ? "" : "; " + log.first_problem));
    }
  }
  std::this_thread::sleep_for(kSettle);
  const auto rss = vm_rss_kib(child.pid());
  if (!rss) throw std::runtime_error("no VmRSS in /proc/" + std::to_string(child.pid()) + "/status");
  HostdRun run;
  {
    std::lock_guard lock(log.mutex);
    run.discovered_ms = ms_since(child.started(), *log.all_running_at);
    run.problems = log.problems;
    run.first_problem = log.first_problem;
  }
  run.done_ms = ms_since(child.started(), *connected_at);
  run.rss_mib = *rss / 1024;
  child.terminate();
  return run;
}

// hostd on an empty node: its VmRSS once connected to libvirt and settled.
double idle_hostd_rss_mib(const std::string& hostd, const fs::path& node) {
  LogWatch log;
  Child child(hostd_args(hostd, node), STDERR_FILENO, std::ref(log));
  const auto deadline = child.started() + kGiveUp;
  for (;;) {
    {
      std::lock_guard lock(log.mutex);
      if (log.connected_at) break;
    }
    if (!child.running()) {
      throw std::runtime_error(hostd + " on an empty node exited (" + describe(child.wait()) +
                               ") before connecting to libvirt" +
                               (log.first_problem.empty() ? "" : "; its log: " + log.first_problem));
    }
    if (Clock::now() > deadline) {
      throw std::runtime_error(hostd + " on an empty node did not connect to libvirt in 30 s" +
                               (log.first_problem.empty() ? "" : "; its log: " + log.first_problem));
    }
    std::this_thread::sleep_for(2ms);
  }
  std::this_thread::sleep_for(kSettle);
  const auto rss = vm_rss_kib(child.pid());
  if (!rss) throw std::runtime_error("no VmRSS in /proc/" + std::to_string(child.pid()) + "/status");
  return *rss / 1024;
}

struct VirshRun {
  double ms = 0;
  double max_rss_kib = 0;
};

// `virsh list --all --name` over the node: from start to exit, or nullopt if virsh did not
// list all `domains` (`why` says why).
std::optional<VirshRun> virsh_list(const fs::path& node, std::size_t domains, std::string& why) {
  std::size_t names = 0;
  std::mutex mutex;
  try {
    Child virsh({"virsh", "-c", "test://" + node.string(), "list", "--all", "--name"},
                STDOUT_FILENO, [&](const std::string& line) {
                  std::lock_guard lock(mutex);
                  if (!line.empty()) ++names;
                });
    const int status = virsh.wait();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      why = "virsh list failed";
      return std::nullopt;
    }
    if (names != domains) {
      why = "virsh listed " + std::to_string(names) + " domains, not " + std::to_string(domains);
      return std::nullopt;
    }
    return VirshRun{ms_since(virsh.started(), virsh.ended()), virsh.max_rss_kib()};
  } catch (const std::exception& error) {
    why = std::string("no virsh: ") + error.what();
    return std::nullopt;
  }
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// "median of 3 runs, 306-345 ms", or "1 run".
std::string spread(const std::vector<double>& values, int digits, const std::string& unit) {
  if (values.size() < 2) return "1 run";
  const auto [low, high] = std::minmax_element(values.begin(), values.end());
  return "median of " + std::to_string(values.size()) + " runs, " + perfkvm::bench::fixed(*low, digits) + "-" +
         perfkvm::bench::fixed(*high, digits) + " " + unit;
}

// The perfkvm-hostd of this build tree: bench/discovery_scale -> host-agent/perfkvm-hostd.
std::string default_hostd(const char* argv0) {
  std::error_code ec;
  const fs::path self = fs::canonical("/proc/self/exe", ec);
  const fs::path guess = (ec ? fs::path(argv0) : self).parent_path().parent_path() /
                         "host-agent" / "perfkvm-hostd";
  return guess.string();
}

}  // namespace

int main(int argc, char** argv) {
  std::string hostd = default_hostd(argv[0]);
  std::size_t domains = 1000;
  int runs = 3;
  std::string json_path;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--hostd" && i + 1 < argc) {
      hostd = argv[++i];
    } else if (arg == "--domains" && i + 1 < argc) {
      domains = std::stoul(argv[++i]);
    } else if (arg == "--runs" && i + 1 < argc) {
      runs = std::stoi(argv[++i]);
    } else if (arg == "--json" && i + 1 < argc) {
      json_path = argv[++i];
    } else {
      std::fprintf(stderr, "discovery_scale: unknown argument '%s'\nusage: discovery_scale "
                           "[--hostd PATH] [--domains N] [--runs R] [--json FILE]\n",
                   arg.c_str());
      return 2;
    }
  }
  if (domains == 0 || runs < 1) {
    std::fprintf(stderr, "discovery_scale: --domains and --runs must be at least 1\n");
    return 2;
  }
  if (::access(hostd.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "discovery_scale: no perfkvm-hostd at %s (build it, or give --hostd)\n",
                 hostd.c_str());
    return 2;
  }
  // N listening sockets and N accepted connections, beside what libvirt and the pipes take.
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
  std::optional<perfkvm::bench::Figures> out_storage;
  try {
    out_storage.emplace(json_path);
  } catch (const std::runtime_error& error) {
    std::fprintf(stderr, "%s: %s: %s\n", "discovery_scale", error.what(), std::strerror(errno));
    return 2;
  }
  perfkvm::bench::Figures& out = *out_storage;
  ::signal(SIGPIPE, SIG_IGN);

  const std::string n = std::to_string(domains);
  std::printf("discovery at scale: perfkvm-hostd on libvirt's test driver, %s running domains "
              "with perfkvm channels\n", n.c_str());
  std::fflush(stdout);
  int status = 0;
  try {
    TempDir dir;
    const fs::path node = write_node(dir.path, "node.xml", domains);
    const fs::path empty = write_node(dir.path, "empty.xml", 0);
    std::vector<double> discovered, welcomed, rss, session_rss, idle_rss, virsh, driver_kib;
    std::string virsh_problem;
    std::size_t problems = 0;
    std::string first_problem;
    auto log_problems = [&](const HostdRun& run) {
      problems += run.problems;
      if (first_problem.empty()) first_problem = run.first_problem;
    };
    for (int r = 0; r < runs; ++r) {
      const auto listed = virsh_list(node, domains, virsh_problem);
      const auto listed_empty = virsh_list(empty, 0, virsh_problem);
      if (listed) virsh.push_back(listed->ms);
      if (listed && listed_empty) driver_kib.push_back(listed->max_rss_kib - listed_empty->max_rss_kib);
      idle_rss.push_back(idle_hostd_rss_mib(hostd, empty));
      const HostdRun idle = run_hostd(hostd, dir.path, node, domains, false);
      discovered.push_back(idle.discovered_ms);
      rss.push_back(idle.rss_mib);
      log_problems(idle);
      const HostdRun served = run_hostd(hostd, dir.path, node, domains, true);
      welcomed.push_back(served.done_ms);
      session_rss.push_back(served.rss_mib);
      log_problems(served);
    }
    const std::optional<double> virsh_ms =
        virsh.empty() ? std::nullopt : std::optional(median(virsh));
    const std::string log_note = problems == 0 ? "no warnings in hostd's log"
                                               : std::to_string(problems) +
                                                     " warnings/errors in hostd's log, first: " +
                                                     first_problem;
    const std::string virsh_note =
        virsh_ms ? "virsh " + spread(virsh, 0, "ms") : "no baseline: " + virsh_problem;
    const double target_ms = std::chrono::duration<double, std::milli>(kTimeTarget).count();
    const double t_discovered = median(discovered);
    const double t_welcomed = median(welcomed);
    out.row("discovery: start -> " + n + " domains discovered", t_discovered, "ms",
            "virsh list --all", virsh_ms, "< 1 s", t_discovered < target_ms,
            spread(discovered, 0, "ms") + " (hostd's 'is running' log lines); " + virsh_note + "; " +
                log_note);
    out.row("discovery: start -> " + n + " guests welcomed", t_welcomed, "ms",
            "virsh list --all", virsh_ms, "< 1 s", t_welcomed < target_ms,
            spread(welcomed, 0, "ms") + " (a hello sent on each channel as hostd connects)");
    const double rss_target = kRssBaseMiB + kRssPerDomainKiB * static_cast<double>(domains) / 1024;
    const double rss_median = median(rss);
    const double idle = median(idle_rss);
    const std::string driver_note =
        driver_kib.empty() ? "test driver's share unknown (" + virsh_problem + ")"
                           : "of which libvirt's test driver (in process) ~" +
                                 perfkvm::bench::fixed(median(driver_kib) / 1024, 1) + " MiB";
    out.row("discovery: hostd VmRSS with " + n + " domains", rss_median, "MiB",
            "hostd, 0 domains", idle, "<= " + perfkvm::bench::fixed(rss_target, 1) + " MiB",
            rss_median <= rss_target,
            spread(rss, 1, "MiB") + ", channels connected and idle; " +
                perfkvm::bench::fixed((rss_median - idle) * 1024 / static_cast<double>(domains), 1) +
                " KiB per domain over the empty node, " + driver_note + "; with " + n +
                " sessions open " + perfkvm::bench::fixed(median(session_rss), 1) + " MiB");
    if (!driver_kib.empty()) {
      // What hostd would hold against qemu:///system, where the domains live in libvirtd: its
      // RSS less the test driver's share, an estimate (virsh's peak RSS on this node over its
      // peak on the empty one).
      const double own = rss_median - median(driver_kib) / 1024;
      out.row("discovery: hostd VmRSS less the test driver", own, "MiB", "hostd, 0 domains", idle,
              "<= " + perfkvm::bench::fixed(rss_target, 1) + " MiB", own <= rss_target,
              "estimate: the row above minus " + driver_note.substr(9));
    }
  } catch (const std::exception& error) {
    std::fprintf(stderr, "discovery_scale: %s\n", error.what());
    out.row("discovery: start -> " + n + " domains discovered", std::nullopt, "ms", "virsh list --all",
            std::nullopt, "< 1 s", false, std::string("not measured: ") + error.what());
    status = 1;
  }
  return status;
}
