// What a Prometheus scrape costs perfkvm-hostd, beside its floor in the same run:
//   DOMAINS domains x VCPUS vCPU threads (idle threads of this process named "CPU n/KVM"),
//   EVENTS software events each, counted by the export (FleetExport, as hostd runs it); a
//   scrape is FleetExport::scrape in the text format (read every counter, update the totals,
//   render every family) plus the gzip the HTTP server applies (Prometheus asks for it);
//   the floor: one grouped read(2) per thread of the same events on fds of its own.
// The figure is this thread's CPU time per scrape, median of ROUNDS; then, the export's counters
// closed, the floor's median on the same threads (one set of counters at a time: two would
// need twice the fds, more than a container's hard limit may allow). Target (issue [export]):
// <= 2x the floor.
//
//   scrape_cost [--domains N] [--vcpus N] [--rounds N] [--json FILE]
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench/figures.hpp"
#include "bench/group_reads.hpp"
#include "tests/support/stand_in_vcpus.hpp"
#include "host-agent/counters/column_plan.hpp"
#include "host-agent/export/fleet_export.hpp"
#include "host-agent/http/gzip.hpp"
#include "util/log.hpp"

namespace {

using namespace std::chrono_literals;
using namespace perfkvm;

const std::vector<std::string> kEvents = {"task-clock",  "context-switches", "cpu-migrations",
                                          "page-faults", "cpu-clock",        "minor-faults",
                                          "major-faults", "alignment-faults", "emulation-faults",
                                          "dummy"};

// Idle vCPU stand-ins, named per domain: each wakes every 100 ms for a moment, so that counters
// change.
class IdleVcpus : public test::StandInVcpus {
 public:
  explicit IdleVcpus(std::size_t count, std::size_t per_domain)
      : StandInVcpus(count, [](std::size_t) { std::this_thread::sleep_for(100ms); }, per_domain) {}
};

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t domains = 200, vcpus = 8, rounds = 15;
  std::string json_path;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--domains") domains = std::stoul(argv[i + 1]);
    else if (flag == "--vcpus") vcpus = std::stoul(argv[i + 1]);
    else if (flag == "--rounds") rounds = std::stoul(argv[i + 1]);
    else if (flag == "--json") json_path = argv[i + 1];
    else {
      std::fprintf(stderr, "usage: scrape_cost [--domains N] [--vcpus N] [--rounds N] [--json FILE]\n");
      return 2;
    }
  }
  if (argc % 2 == 0) {
    std::fprintf(stderr, "usage: scrape_cost [--domains N] [--vcpus N] [--rounds N] [--json FILE]\n");
    return 2;
  }
  log::set_level(log::Level::warning);
  // One fd per event and thread, for the export's counters and then the floor's.
  const rlim_t wanted = domains * vcpus * kEvents.size() + 1024;
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = std::max(limit.rlim_cur, wanted);
  if (limit.rlim_max < wanted || ::setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    std::fprintf(stderr, "scrape_cost: cannot raise the fd limit to %lu: %s\n",
                 static_cast<unsigned long>(wanted), std::strerror(errno));
    return 1;
  }
  bench::Figures out(json_path);
  IdleVcpus threads(domains * vcpus, vcpus);
  const auto tids = threads.tids();

  auto fleet_holder = std::make_unique<host::FleetExport>(host::plan_named_columns(kEvents, protocol::StartMode::all), 0ms,
                          std::make_shared<host::CounterBudget>(wanted), [] {
                            host::HostdHealth health;
                            health.version = "bench";
                            return health;
                          });
  auto& fleet = *fleet_holder;
  for (std::size_t d = 0; d < domains; ++d) {
    host::DomainXmlInfo info;
    info.name = "bench-domain-" + std::to_string(d);
    char uuid[48];
    std::snprintf(uuid, sizeof uuid, "6f1a52a4-6c0e-4b7e-9d3c-%012zx", d);
    info.uuid = uuid;
    info.vcpus = info.max_vcpus = static_cast<std::uint32_t>(vcpus);
    info.channel_path = "/run/libvirt/qemu/channel/" + info.name + "/org.perfkvm.0";
    std::vector<host::VcpuThread> own;
    for (std::size_t v = 0; v < vcpus; ++v) {
      own.push_back({static_cast<std::uint32_t>(v), tids[d * vcpus + v]});
    }
    fleet.domain_running(info, [own] {
      host::VcpuResolution resolution;
      resolution.threads = own;
      resolution.source = "comm";
      return resolution;
    });
  }
  std::vector<double> scrape_ms, gzip_ms, floor_ms;
  std::size_t body_bytes = 0, gzip_bytes = 0;
  auto now = host::FleetExport::Clock::now();
  for (std::size_t r = 0; r <= rounds; ++r) {  // round 0 warms up
    const double before = bench::thread_cpu_ms(pthread_self());
    now += 1s;  // past the minimum read interval: every scrape reads
    const std::string body = fleet.scrape(host::metrics::Format::text, now);
    const double rendered = bench::thread_cpu_ms(pthread_self());
    const std::string gzipped = host::http::gzip_compress(body);
    if (r == 0) continue;
    scrape_ms.push_back(bench::thread_cpu_ms(pthread_self()) - before);
    gzip_ms.push_back(bench::thread_cpu_ms(pthread_self()) - rendered);
    body_bytes = body.size();
    gzip_bytes = gzipped.size();
  }
  fleet_holder.reset();  // the export's counters close
  bench::CounterGroups floor(tids, kEvents);
  for (std::size_t r = 0; r <= rounds; ++r) {
    const double before = bench::thread_cpu_ms(pthread_self());
    const auto reads = floor.read_all();
    if (reads != tids.size()) {
      std::fprintf(stderr, "scrape_cost: the floor read %llu of %zu groups\n",
                   static_cast<unsigned long long>(reads), tids.size());
      return 1;
    }
    if (r > 0) floor_ms.push_back(bench::thread_cpu_ms(pthread_self()) - before);
  }
  const std::string shape = std::to_string(domains) + " domains x " + std::to_string(vcpus) +
                            " vCPUs x " + std::to_string(kEvents.size()) + " events";
  std::printf("scrape cost: %s, CPU ms per scrape, median of %zu\n", shape.c_str(), rounds);
  const std::string note = "median of " + std::to_string(rounds) + " scrapes (read, totals, render, gzip: " +
                           bench::fixed(median(gzip_ms), 1) + " ms of it); " +
                           std::to_string(body_bytes) + " bytes, " + std::to_string(gzip_bytes) + " gzipped";
  out.at_most("export: one scrape, " + shape, median(scrape_ms), "ms", "bare group reads",
              median(floor_ms), 2.0, note);
  out.row("export: scrape response size", static_cast<double>(body_bytes) / 1024.0, "KiB", "", std::nullopt,
          "report only", true, std::to_string(gzip_bytes / 1024) + " KiB gzipped (Prometheus asks for gzip)");
  return 0;
}
