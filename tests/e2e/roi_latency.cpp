// The guest-side latency of a control request, through perfkvm_roi.h as a benchmark would call
// it: N perfkvm_roi_begin() calls (counting is already on, so each is only the host's snapshot:
// request -> perfkvm -> read -> hostd -> sample -> perfkvm -> answer), timed one by one.
// usage: e2e_roi_latency N; prints {"count":N,"median_us":...,"p99_us":...,"min_us":...,"max_us":...}
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "guest-agent/perfkvm_roi.h"

int main(int argc, char** argv) {
  const int count = argc > 1 ? std::atoi(argv[1]) : 0;
  if (count < 1) {
    std::fprintf(stderr, "usage: e2e_roi_latency N\n");
    return 2;
  }
  std::vector<double> micros;
  for (int i = 0; i < count; ++i) {
    const auto began = std::chrono::steady_clock::now();
    if (perfkvm_roi_begin() != 0) {
      std::fprintf(stderr, "e2e_roi_latency: request %d failed: %s\n", i + 1, std::strerror(errno));
      return 1;
    }
    micros.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - began).count());
  }
  std::vector<double> sorted = micros;
  std::sort(sorted.begin(), sorted.end());
  const auto at = [&](double share) {
    return sorted[std::min(sorted.size() - 1, static_cast<std::size_t>(share * sorted.size()))];
  };
  std::printf("{\"count\":%d,\"median_us\":%.1f,\"p99_us\":%.1f,\"min_us\":%.1f,\"max_us\":%.1f}\n",
              count, at(0.5), at(0.99), sorted.front(), sorted.back());
  return 0;
}
