// Threads of the benchmark process standing in for a VM's vCPU threads: named "CPU n/KVM",
// each running `step` in a loop until destroyed, so that counters on them change and they
// keep being scheduled the way the benchmark wants (light work, or mostly asleep).
#pragma once

#include <pthread.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace perfkvm::bench {

class StandInVcpus {
 public:
  // `vcpus_per_domain`: thread i is named "CPU <i % vcpus_per_domain>/KVM" (0: "CPU <i>/KVM").
  StandInVcpus(std::size_t count, std::function<void()> step, std::size_t vcpus_per_domain = 0)
      : tids_(count) {
    for (std::size_t i = 0; i < count; ++i) {
      threads_.emplace_back([this, i, step, vcpus_per_domain] {
        const std::size_t vcpu = vcpus_per_domain ? i % vcpus_per_domain : i;
        const std::string name = "CPU " + std::to_string(vcpu) + "/KVM";
        pthread_setname_np(pthread_self(), name.c_str());
        tids_[i] = gettid();
        while (!quit_) step();
      });
    }
    for (auto& tid : tids_) {
      while (tid.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  ~StandInVcpus() {
    quit_ = true;
    for (auto& thread : threads_) thread.join();
  }
  StandInVcpus(const StandInVcpus&) = delete;
  StandInVcpus& operator=(const StandInVcpus&) = delete;

  std::vector<pid_t> tids() const {
    std::vector<pid_t> out;
    for (const auto& tid : tids_) out.push_back(tid.load());
    return out;
  }

 private:
  std::vector<std::atomic<pid_t>> tids_;
  std::vector<std::thread> threads_;
  std::atomic<bool> quit_{false};
};

}  // namespace perfkvm::bench
