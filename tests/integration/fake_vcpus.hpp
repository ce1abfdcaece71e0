// Real threads of the test process standing in for a domain's vCPU threads, named as QEMU
// names them ("CPU n/KVM"): vCPU 1 spins while busy() is set, the others sleep.
#pragma once

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "host-agent/threads/vcpu_threads.hpp"

namespace perfkvm::test {

class FakeVcpus {
 public:
  explicit FakeVcpus(std::uint32_t count, std::uint32_t busy_vcpu = 1)
      : count_(count), tids_(std::make_unique<std::atomic<pid_t>[]>(count)) {
    for (std::uint32_t i = 0; i < count; ++i) {
      threads_.emplace_back([this, i, busy_vcpu] {
        const std::string name = "CPU " + std::to_string(i) + "/KVM";
        pthread_setname_np(pthread_self(), name.c_str());
        tids_[i] = static_cast<pid_t>(::syscall(SYS_gettid));
        while (!quit_) {
          if (i == busy_vcpu && busy_) {
            for (unsigned spin = 0; spin < 100000; ++spin) sink_ = sink_ + spin;
          } else {
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
          }
        }
      });
    }
    while (true) {
      bool all = true;
      for (std::uint32_t i = 0; i < count_; ++i) all = all && tids_[i].load() != 0;
      if (all) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  ~FakeVcpus() {
    quit_ = true;
    for (auto& thread : threads_) thread.join();
  }

  void set_busy(bool busy) { busy_ = busy; }

  host::VcpuResolution resolution() const {
    host::VcpuResolution resolution;
    resolution.qemu_pid = ::getpid();
    resolution.source = "comm";
    for (std::uint32_t i = 0; i < count_; ++i) resolution.threads.push_back({i, tids_[i]});
    return resolution;
  }

 private:
  std::uint32_t count_;
  std::unique_ptr<std::atomic<pid_t>[]> tids_;
  std::vector<std::thread> threads_;
  std::atomic<bool> busy_{true};
  // Unsigned: it wraps by design; keeps the busy loop from being optimised away.
  static inline std::atomic<unsigned> sink_{0};
  std::atomic<bool> quit_{false};
};

}  // namespace perfkvm::test
