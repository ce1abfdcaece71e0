// Encode + decode throughput of realistic sample frames (8 events x 16 vCPUs, per-vCPU
// rows), side by side with bare boost::json::parse + serialize of the same payloads.
// Target: perfkvm's full path (struct -> JSON -> frame -> decoder -> JSON -> validated
// struct) at >= 0.7x the bare Boost.JSON figure. Prints; a missed target does not fail.
//
//   protocol_throughput [ROUNDS | --rounds N] [--json FILE]
// --json appends the figure as one JSON line to FILE, in the format bench/sampling_cost.cpp
// writes (scripts/bench.sh makes the table). Here higher is better: the ratio is
// perfkvm / bare in messages per second, met when >= 0.70.
#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bench/figures.hpp"
#include "protocol/codec.hpp"

using namespace perfkvm::protocol;

namespace {

constexpr std::size_t kEvents = 8;
constexpr std::size_t kVcpus = 16;
constexpr std::size_t kDistinctSamples = 64;

std::vector<Sample> make_samples() {
  std::mt19937_64 random(42);
  std::vector<Sample> samples;
  for (std::size_t i = 0; i < kDistinctSamples; ++i) {
    Sample s;
    s.nonce = "5f2b9c0e7d41a6835f2b9c0e7d41a683";
    s.request_id = 1;
    s.seq = i + 1;
    s.elapsed_ns = (i + 1) * 100'000'000ull;
    s.host_time_ns = 1'764'000'000'000'000'000ull + s.elapsed_ns;
    std::vector<Count> totals(kEvents);
    for (std::uint32_t v = 0; v < kVcpus; ++v) {
      VcpuCounts row{v, VcpuStatus::running, {}};
      for (std::size_t e = 0; e < kEvents; ++e) {
        const std::uint64_t enabled = s.elapsed_ns + random() % 1000;
        const std::uint64_t running = enabled - random() % (enabled / 4);  // multiplexed
        const Count count{random() % 5'000'000'000ull, enabled, running};
        row.counts.emplace_back(count);
        totals[e].value += count.value;
        totals[e].time_enabled += count.time_enabled;
        totals[e].time_running += count.time_running;
      }
      s.vcpus.push_back(std::move(row));
    }
    for (const auto& total : totals) s.totals.emplace_back(total);
    samples.push_back(std::move(s));
  }
  return samples;
}

template <class F>
double best_seconds(int repeats, F&& run) {
  double best = 1e9;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    run();
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    best = std::min(best, took.count());
  }
  return best;
}


}  // namespace

int main(int argc, char** argv) {
  std::size_t rounds = 30;
  std::string json_path;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--json" && i + 1 < argc) {
      json_path = argv[++i];
    } else if (arg == "--rounds" && i + 1 < argc) {
      rounds = std::stoul(argv[++i]);
    } else if (!arg.empty() && arg.find_first_not_of("0123456789") == std::string::npos) {
      rounds = std::stoul(arg);  // the old positional form: protocol_throughput 30
    } else {
      std::fprintf(stderr, "protocol_throughput: unknown argument '%s'\n"
                           "usage: protocol_throughput [ROUNDS | --rounds N] [--json FILE]\n",
                   arg.c_str());
      return 2;
    }
  }
  if (rounds == 0) {
    std::fprintf(stderr, "protocol_throughput: --rounds must be at least 1\n");
    return 2;
  }
  const auto samples = make_samples();
  std::vector<std::string> payloads;
  std::size_t payload_bytes = 0;
  for (const auto& s : samples) {
    payloads.push_back(serialize_message(s));
    payload_bytes += payloads.back().size();
  }
  const std::size_t messages = rounds * samples.size();
  const double total_mb = static_cast<double>(payload_bytes * rounds) / 1e6;

  std::size_t sink = 0;
  const double ours = best_seconds(5, [&] {
    FrameDecoder decoder;
    for (std::size_t r = 0; r < rounds; ++r) {
      for (const auto& s : samples) {
        const std::string frame = encode_message(s);
        std::string_view input = frame;
        const auto payload = decoder.next(input);
        const auto parsed = parse_message(*payload);
        sink += std::get<Sample>(std::get<Message>(parsed)).seq;
      }
    }
  });
  const double bare = best_seconds(5, [&] {
    for (std::size_t r = 0; r < rounds; ++r) {
      for (const auto& payload : payloads) {
        const auto value = boost::json::parse(payload);
        sink += boost::json::serialize(value).size();
      }
    }
  });

  // msg/s perfkvm over msg/s bare: the same message count, so bare time over ours.
  const double ratio = bare / ours;
  constexpr double kTarget = 0.70;
  const bool met = ratio >= kTarget;
  std::printf("protocol throughput: %zu sample frames (%zu events x %zu vCPUs, %zu bytes avg)\n",
              messages, kEvents, kVcpus, payload_bytes / samples.size());
  std::printf("  %-44s %10.0f msg/s %8.1f MB/s\n", "perfkvm encode+frame+decode+validate",
              messages / ours, total_mb / ours);
  std::printf("  %-44s %10.0f msg/s %8.1f MB/s\n", "bare boost::json::parse + serialize",
              messages / bare, total_mb / bare);
  std::printf("  ratio perfkvm/bare: %.2fx (target >= %.2fx): %s\n", ratio, kTarget,
              met ? "met" : "NOT MET");
  if (!json_path.empty()) {
    try {
      perfkvm::bench::Figures figures(json_path);
      char note[160];
      std::snprintf(note, sizeof note, "%zu frames of %zu bytes, best of 5; %.1f vs %.1f MB/s",
                    messages, payload_bytes / samples.size(), total_mb / ours, total_mb / bare);
      figures.at_least("codec: encode+decode throughput", messages / ours, "msg/s",
                       "bare Boost.JSON", messages / bare, kTarget, note);
    } catch (const std::runtime_error& error) {
      std::fprintf(stderr, "protocol_throughput: %s: %s\n", error.what(), std::strerror(errno));
      return 1;
    }
  }
  return sink == 0;  // keeps the work observable
}
