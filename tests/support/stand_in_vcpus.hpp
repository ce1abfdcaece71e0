// Threads of a test or benchmark process standing in for a domain's vCPU threads, named as
// QEMU names them ("CPU n/KVM"), each running a step in a loop until destroyed, so that
// counters on them change and they keep being scheduled as the caller wants (light work,
// mostly asleep, or one vCPU spinning). For threads that run steps on demand, see
// vcpu_thread.hpp; for a whole stand-in QEMU process, fake_qemu_process.hpp.
#pragma once

#include <pthread.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "host-agent/threads/vcpu_threads.hpp"

namespace perfkvm::test {

class StandInVcpus {
 public:
  // Thread i runs step(i) in a loop. `vcpus_per_domain`: thread i is named
  // "CPU <i % vcpus_per_domain>/KVM" (0: "CPU <i>/KVM"), for many domains' threads at once.
  StandInVcpus(std::size_t count, std::function<void(std::size_t)> step,
               std::size_t vcpus_per_domain = 0)
      : tids_(count) {
    for (std::size_t i = 0; i < count; ++i) {
      threads_.emplace_back([this, i, step, vcpus_per_domain] {
        const std::size_t vcpu = vcpus_per_domain ? i % vcpus_per_domain : i;
        const std::string name = "CPU " + std::to_string(vcpu) + "/KVM";
        pthread_setname_np(pthread_self(), name.c_str());
        tids_[i] = gettid();
        while (!quit_) step(i);
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

  // The threads as the host agent would resolve this process's vCPUs.
  host::VcpuResolution resolution() const {
    host::VcpuResolution resolution;
    resolution.qemu_pid = ::getpid();
    resolution.source = "comm";
    for (std::size_t i = 0; i < tids_.size(); ++i) {
      resolution.threads.push_back({static_cast<std::uint32_t>(i), tids_[i].load()});
    }
    return resolution;
  }

 private:
  std::vector<std::atomic<pid_t>> tids_;
  std::vector<std::thread> threads_;
  std::atomic<bool> quit_{false};
};

// A domain's vCPUs for session tests: vCPU `busy_vcpu` spins while busy is set (so that its
// counts grow), the others sleep.
class FakeVcpus : public StandInVcpus {
 public:
  explicit FakeVcpus(std::uint32_t count, std::uint32_t busy_vcpu = 1)
      : FakeVcpus(count, busy_vcpu, std::make_shared<std::atomic<bool>>(true)) {}

  void set_busy(bool busy) { *busy_ = busy; }

 private:
  // The flag is made before the base class starts the threads that read it.
  FakeVcpus(std::uint32_t count, std::uint32_t busy_vcpu, std::shared_ptr<std::atomic<bool>> busy)
      : StandInVcpus(count,
                     [busy, busy_vcpu](std::size_t i) {
                       if (i == busy_vcpu && *busy) {
                         for (unsigned spin = 0; spin < 100000; ++spin) sink_ = sink_ + spin;
                       } else {
                         std::this_thread::sleep_for(std::chrono::milliseconds(2));
                       }
                     }),
        busy_(std::move(busy)) {}

  std::shared_ptr<std::atomic<bool>> busy_;
  // Unsigned: it wraps by design; keeps the busy loop from being optimised away.
  static inline std::atomic<unsigned> sink_{0};
};

}  // namespace perfkvm::test
