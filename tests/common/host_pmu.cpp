#include "tests/common/host_pmu.hpp"

#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <future>
#include <stdexcept>
#include <thread>

#include "util/unique_fd.hpp"

namespace perfkvm::test {
namespace {

struct GenericHardwareEvent {
  const char* name;
  std::uint32_t type;  // PERF_TYPE_HARDWARE or PERF_TYPE_HW_CACHE
  std::uint64_t config;
};

// A generic cache event's config (perf_event_open(2)): cache | op << 8 | result << 16.
constexpr std::uint64_t cache_config(std::uint64_t cache, std::uint64_t op, std::uint64_t result) {
  return cache | op << 8 | result << 16;
}
constexpr std::uint32_t kHw = PERF_TYPE_HARDWARE;
constexpr std::uint32_t kCache = PERF_TYPE_HW_CACHE;
constexpr std::uint64_t kRead = PERF_COUNT_HW_CACHE_OP_READ;
constexpr std::uint64_t kWrite = PERF_COUNT_HW_CACHE_OP_WRITE;
constexpr std::uint64_t kPrefetch = PERF_COUNT_HW_CACHE_OP_PREFETCH;
constexpr std::uint64_t kAccess = PERF_COUNT_HW_CACHE_RESULT_ACCESS;
constexpr std::uint64_t kMiss = PERF_COUNT_HW_CACHE_RESULT_MISS;

// The kernel's generic hardware and hardware cache events (include/uapi/linux/perf_event.h),
// named as perf names them. Deliberately not the project's event catalogue: the probe is the
// oracle.
constexpr std::size_t kDefaultListEvents = 8;  // the first eight: perf's default list
constexpr std::array<GenericHardwareEvent, 28> kHardwareEvents{{
    {"cycles", kHw, PERF_COUNT_HW_CPU_CYCLES},
    {"instructions", kHw, PERF_COUNT_HW_INSTRUCTIONS},
    {"cache-references", kHw, PERF_COUNT_HW_CACHE_REFERENCES},
    {"cache-misses", kHw, PERF_COUNT_HW_CACHE_MISSES},
    {"branches", kHw, PERF_COUNT_HW_BRANCH_INSTRUCTIONS},
    {"branch-misses", kHw, PERF_COUNT_HW_BRANCH_MISSES},
    {"bus-cycles", kHw, PERF_COUNT_HW_BUS_CYCLES},
    {"ref-cycles", kHw, PERF_COUNT_HW_REF_CPU_CYCLES},
    {"stalled-cycles-frontend", kHw, PERF_COUNT_HW_STALLED_CYCLES_FRONTEND},
    {"stalled-cycles-backend", kHw, PERF_COUNT_HW_STALLED_CYCLES_BACKEND},
    {"L1-dcache-loads", kCache, cache_config(PERF_COUNT_HW_CACHE_L1D, kRead, kAccess)},
    {"L1-dcache-load-misses", kCache, cache_config(PERF_COUNT_HW_CACHE_L1D, kRead, kMiss)},
    {"L1-dcache-stores", kCache, cache_config(PERF_COUNT_HW_CACHE_L1D, kWrite, kAccess)},
    {"L1-dcache-store-misses", kCache, cache_config(PERF_COUNT_HW_CACHE_L1D, kWrite, kMiss)},
    {"L1-dcache-prefetches", kCache, cache_config(PERF_COUNT_HW_CACHE_L1D, kPrefetch, kAccess)},
    {"L1-dcache-prefetch-misses", kCache, cache_config(PERF_COUNT_HW_CACHE_L1D, kPrefetch, kMiss)},
    {"L1-icache-loads", kCache, cache_config(PERF_COUNT_HW_CACHE_L1I, kRead, kAccess)},
    {"L1-icache-load-misses", kCache, cache_config(PERF_COUNT_HW_CACHE_L1I, kRead, kMiss)},
    {"LLC-loads", kCache, cache_config(PERF_COUNT_HW_CACHE_LL, kRead, kAccess)},
    {"LLC-load-misses", kCache, cache_config(PERF_COUNT_HW_CACHE_LL, kRead, kMiss)},
    {"LLC-stores", kCache, cache_config(PERF_COUNT_HW_CACHE_LL, kWrite, kAccess)},
    {"LLC-store-misses", kCache, cache_config(PERF_COUNT_HW_CACHE_LL, kWrite, kMiss)},
    {"dTLB-loads", kCache, cache_config(PERF_COUNT_HW_CACHE_DTLB, kRead, kAccess)},
    {"dTLB-load-misses", kCache, cache_config(PERF_COUNT_HW_CACHE_DTLB, kRead, kMiss)},
    {"iTLB-loads", kCache, cache_config(PERF_COUNT_HW_CACHE_ITLB, kRead, kAccess)},
    {"iTLB-load-misses", kCache, cache_config(PERF_COUNT_HW_CACHE_ITLB, kRead, kMiss)},
    {"branch-loads", kCache, cache_config(PERF_COUNT_HW_CACHE_BPU, kRead, kAccess)},
    {"branch-load-misses", kCache, cache_config(PERF_COUNT_HW_CACHE_BPU, kRead, kMiss)},
}};

// Each event for the whole thread, for the guest side alone (perf's :G, exclude_host) and for
// the host side alone (:H, exclude_guest), as --mode all counts them. On a thread that never
// enters a guest, :G counts nothing on x86 (Intel keeps a guest-only counter off in host mode;
// AMD's Guest-Only bit counts nothing while SVM is off, and the kernel only drops Host-Only
// then), but tests take that from what the probe counted, never from this comment.
struct Scope {
  const char* suffix;
  bool exclude_host;
  bool exclude_guest;
};
constexpr std::array<Scope, 3> kScopes{{{"", false, false}, {":G", true, false}, {":H", false, true}}};

// Counted on a busy thread, in two passes so that no counter waits behind the others in the
// PMU's rotation: first every event for the whole thread, then cycles and instructions per
// side. Only opened (never enabled): the other events per side.
enum class Pass { whole_thread, per_side, open_only };
// The stalled cycles and the cache events are only opened: whether they open is what tests
// expect a column's status from, and counting them too would multiplex the eight.
Pass pass_of(const GenericHardwareEvent& event, const Scope& scope) {
  const std::string_view name = event.name;
  const bool in_default_list = &event < kHardwareEvents.data() + kDefaultListEvents;
  if (!in_default_list) return Pass::open_only;
  if (scope.suffix[0] == '\0') return Pass::whole_thread;
  return name == "cycles" || name == "instructions" ? Pass::per_side : Pass::open_only;
}

// Per pass: long enough for a PMU that multiplexes a pass's 8 counters (the kernel rotates
// them every perf_event_mux_interval_ms, 1000/HZ by default) to give each one time.
constexpr std::uint64_t kBusyNs = 50'000'000;

std::uint64_t thread_cpu_ns() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000'000u +
         static_cast<std::uint64_t>(now.tv_nsec);
}

std::string errno_text(int error) {
  const char* name = ::strerrorname_np(error);
  return name != nullptr ? name : "errno " + std::to_string(error);
}

std::string grouped(std::uint64_t n) {
  std::string digits = std::to_string(n);
  for (int at = static_cast<int>(digits.size()) - 3; at > 0; at -= 3) {
    digits.insert(static_cast<std::size_t>(at), ",");
  }
  return digits;
}

// One counter per event, each alone (not a group): whether one event opens must not depend
// on another. They are read after the busy thread's spin, while it still exists.
struct OpenCounter {
  UniqueFd fd;
  int error = 0;
};

OpenCounter open_on(pid_t tid, const GenericHardwareEvent& event, const Scope& scope) {
  perf_event_attr attr{};
  attr.size = sizeof(attr);
  attr.type = event.type;
  attr.config = event.config;
  attr.exclude_host = scope.exclude_host ? 1 : 0;
  attr.exclude_guest = scope.exclude_guest ? 1 : 0;
  attr.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
  attr.disabled = 1;
  const long fd = ::syscall(SYS_perf_event_open, &attr, tid, -1, -1,
                            static_cast<unsigned long>(PERF_FLAG_FD_CLOEXEC));
  if (fd < 0) return {UniqueFd(), errno};
  return {UniqueFd(static_cast<int>(fd)), 0};
}

}  // namespace

bool HostPmu::present() const { return event("cycles").counts() && event("instructions").counts(); }

const HardwareEventProbe& HostPmu::event(std::string_view name) const {
  for (const auto& e : events) {
    if (e.name == name) return e;
  }
  throw std::out_of_range("host_pmu: no probe of event " + std::string(name));
}

std::string HostPmu::describe() const {
  const auto& cycles = event("cycles");
  const auto& instructions = event("instructions");
  auto one = [](const HardwareEventProbe& e) {
    if (!e.opens && (e.error == EACCES || e.error == EPERM)) {
      return e.name + " " + errno_text(e.error) +
             " (not allowed to count: run as root or with CAP_PERFMON; that is no answer)";
    }
    if (!e.opens) return e.name + " " + errno_text(e.error);
    if (!e.counts()) return e.name + " opened but counted nothing";
    return e.name + " " + grouped(e.count);
  };
  const std::string where =
      " in " + std::to_string(busy_ns / 1'000'000) + " ms on a busy thread of this process";
  if (present()) return "host has a PMU: " + one(cycles) + " and " + one(instructions) + where;
  return "no PMU: " + one(cycles) + ", " + one(instructions) + where;
}

std::string HostPmu::json() const {
  std::string out = "{\"present\": " + std::string(present() ? "true" : "false") +
                    ", \"busy_ns\": " + std::to_string(busy_ns) + ", \"describe\": \"" +
                    describe() + "\", \"events\": {";
  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto& e = events[i];
    out += (i ? ", \"" : "\"") + e.name + "\": {\"opens\": " + (e.opens ? "true" : "false") +
           ", \"counts\": " + (e.counts() ? "true" : "false") + ", \"error\": \"" +
           (e.opens ? "" : errno_text(e.error)) + "\", \"count\": " + std::to_string(e.count) +
           ", \"time_running\": " + std::to_string(e.time_running) + "}";
  }
  return out + "}}";
}

namespace {

struct Probed {
  HardwareEventProbe probe;
  const GenericHardwareEvent* event;
  const Scope* scope;
  Pass pass;
};

// Spins a thread for kBusyNs of its CPU time with the counters of `pass` open and enabled on
// it (those of Pass::open_only are opened and closed at once); fills in their probes. Returns
// the CPU time spun.
std::uint64_t run_pass(std::vector<Probed>& probed, Pass pass) {
  std::promise<pid_t> started;
  std::promise<void> go;
  std::promise<std::uint64_t> spun;
  std::promise<void> read_done;
  std::thread busy([&] {
    started.set_value(static_cast<pid_t>(::gettid()));
    go.get_future().wait();
    const std::uint64_t from = thread_cpu_ns();
    while (thread_cpu_ns() - from < kBusyNs) {
    }
    spun.set_value(thread_cpu_ns() - from);
    read_done.get_future().wait();  // read while the thread exists, to be plain about it
  });
  const pid_t tid = started.get_future().get();
  std::vector<std::pair<Probed*, UniqueFd>> counting;
  for (auto& p : probed) {
    if (p.pass != pass && !(pass == Pass::whole_thread && p.pass == Pass::open_only)) continue;
    OpenCounter counter = open_on(tid, *p.event, *p.scope);
    p.probe.opens = static_cast<bool>(counter.fd);
    p.probe.error = counter.error;
    if (counter.fd && p.pass == pass) counting.emplace_back(&p, std::move(counter.fd));
  }
  for (const auto& [p, fd] : counting) ::ioctl(fd.get(), PERF_EVENT_IOC_ENABLE, 0);
  go.set_value();
  const std::uint64_t busy_ns = spun.get_future().get();
  for (const auto& [p, fd] : counting) {
    std::uint64_t words[3] = {};  // value, time_enabled, time_running
    if (::read(fd.get(), words, sizeof(words)) == sizeof(words)) {
      p->probe.count = words[0];
      p->probe.time_running = words[2];
    }
  }
  read_done.set_value();
  busy.join();
  return busy_ns;
}

}  // namespace

HostPmu probe_host_pmu() {
  std::vector<Probed> probed;
  for (const auto& scope : kScopes) {
    for (const auto& e : kHardwareEvents) {
      probed.push_back({{std::string(e.name) + scope.suffix}, &e, &scope, pass_of(e, scope)});
    }
  }
  HostPmu pmu;
  pmu.busy_ns = run_pass(probed, Pass::whole_thread);
  run_pass(probed, Pass::per_side);
  for (const auto& p : probed) pmu.events.push_back(p.probe);
  return pmu;
}

const HostPmu& host_pmu() {
  static const HostPmu probed = probe_host_pmu();
  return probed;
}

}  // namespace perfkvm::test
