// Stands in for a domain's QEMU process: started with a libvirt-like command line
// (argv[0] "qemu-system-x86_64", "-name guest=NAME,debug-threads=on", "-uuid UUID"), it runs
// vCPU threads named "CPU n/TCG" (as QEMU's MTTCG does; vCPU 1 spins, the others sleep; with
// -S, QEMU's "do not start the CPUs", every vCPU sleeps),
// says "r" on stdout once they exist, and lives until its stdin reaches EOF. It names itself
// after its argv[0], as the kernel names a QEMU started by that path ("qemu-system-x86").
#include <pthread.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  alarm(120);  // never outlive a crashed test
  if (argc > 0) {
    const std::string argv0 = argv[0];
    const std::string base = argv0.substr(argv0.rfind('/') + 1);
    prctl(PR_SET_NAME, base.substr(0, 15).c_str());  // comm holds 15 bytes
  }
  int vcpus = 2;
  bool stopped = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "-smp" && i + 1 < argc) vcpus = std::atoi(argv[i + 1]);
    if (std::string(argv[i]) == "-S") stopped = true;
  }
  std::atomic<bool> quit{false};
  std::atomic<int> named{0};
  std::atomic<unsigned> sink{0};
  std::vector<std::thread> threads;
  for (int v = 0; v < vcpus; ++v) {
    threads.emplace_back([&, v] {
      const std::string name = "CPU " + std::to_string(v) + "/TCG";
      pthread_setname_np(pthread_self(), name.c_str());
      ++named;
      while (!quit) {
        if (v == 1 && !stopped) {
          for (unsigned spin = 0; spin < 100000; ++spin) sink.fetch_add(spin, std::memory_order_relaxed);
        } else {
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
      }
    });
  }
  while (named < vcpus) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (write(STDOUT_FILENO, "r", 1) != 1) return 1;
  char buffer[64];
  while (read(STDIN_FILENO, buffer, sizeof buffer) > 0) {
  }
  quit = true;
  for (auto& thread : threads) thread.join();
  return 0;
}
