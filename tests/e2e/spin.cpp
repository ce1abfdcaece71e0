// A workload for the e2e guest: spin on one vCPU for a given wall time, so that the host's
// task-clock of that vCPU's thread has a known expected value.
// usage: e2e_spin SECONDS VCPU [EXIT_STATUS]; VCPU -1: stay on the CPUs it was started with
// Prints "e2e_spin: vcpu=N wall_ms=W cpu_ms=C" (the guest's own view) and exits EXIT_STATUS.
#include <sched.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace {

double thread_cpu_ms() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) * 1e3 + static_cast<double>(now.tv_nsec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: e2e_spin SECONDS VCPU [EXIT_STATUS]\n");
    return 2;
  }
  const double seconds = std::atof(argv[1]);
  const int vcpu = std::atoi(argv[2]);
  const int status = argc > 3 ? std::atoi(argv[3]) : 0;

  if (vcpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(vcpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) {
      std::perror("e2e_spin: sched_setaffinity");
      return 2;
    }
  }
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const double cpu_start = thread_cpu_ms();
  const auto end = start + std::chrono::duration<double>(seconds);
  volatile unsigned long sink = 0;
  while (Clock::now() < end) {
    for (int i = 0; i < 10000; ++i) sink = sink + static_cast<unsigned long>(i);
  }
  const double wall_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  std::printf("e2e_spin: vcpu=%d wall_ms=%.0f cpu_ms=%.0f\n", vcpu, wall_ms,
              thread_cpu_ms() - cpu_start);
  return status;
}
