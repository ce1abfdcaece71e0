#include <doctest/doctest.h>

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
  CHECK(options.paths.proc_root == "/proc");
}

TEST_CASE("hostd options set every limit") {
  const auto options =
      parse({"--connect", "test:///default", "--channel-name", "org.example.0", "--no-vsock",
             "--min-interval", "1", "--max-events", "8", "--max-sessions", "2", "--max-frame",
             "65536", "--lease", "3000", "--max-queued-samples", "16", "--proc-root", "/tmp/p",
             "--max-counters", "100", "--max-host-counters", "1000", "--max-starts", "5", "-v"});
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

TEST_CASE("privilege check: root or CAP_PERFMON is enough") {
  const auto problems = perf_privilege_problems();
  if (::geteuid() == 0) {
    CHECK(problems.empty());
  } else {
    // Without root the answer depends on the capability set; when it complains, it says how
    // to fix it.
    for (const auto& problem : problems) CHECK(problem.find("CAP_PERFMON") != std::string::npos);
  }
}
