// Real threads of the test process standing in for QEMU vCPU threads.
#pragma once

#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>

namespace perfkvm::test {

// Burns `cpu_time` of this thread's CPU time (not wall time), so the work counted is the same
// on a loaded machine.
inline void spin_cpu(std::chrono::nanoseconds cpu_time) {
  auto thread_cpu = [] {
    timespec now{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec);
  };
  const auto end = thread_cpu() + cpu_time;
  while (thread_cpu() < end) {
  }
}

// A named thread (e.g. "CPU 0/KVM") that blocks until given a step to run. It exits on quit()
// or destruction.
class VcpuThread {
 public:
  explicit VcpuThread(const std::string& name) {
    auto tid = started_.get_future();
    thread_ = std::thread([this] {
      started_.set_value(gettid());
      loop();
    });
    tid_ = tid.get();
    named_ = pthread_setname_np(thread_.native_handle(), name.c_str()) == 0;
  }
  ~VcpuThread() { quit(); }
  VcpuThread(const VcpuThread&) = delete;
  VcpuThread& operator=(const VcpuThread&) = delete;

  pid_t tid() const { return tid_; }
  bool named() const { return named_; }

  // Runs `step` on the thread and waits until it is done.
  void run(std::function<void()> step) {
    std::packaged_task<void()> task(std::move(step));
    auto done = task.get_future();
    post(std::move(task));
    done.get();
  }

  // Lets the thread finish its steps and exit; joins it.
  void quit() {
    {
      std::lock_guard lock(mutex_);
      quitting_ = true;
    }
    wake_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void post(std::packaged_task<void()> task) {
    {
      std::lock_guard lock(mutex_);
      steps_.push_back(std::move(task));
    }
    wake_.notify_one();
  }

  void loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
      wake_.wait(lock, [this] { return quitting_ || !steps_.empty(); });
      if (steps_.empty()) return;
      auto step = std::move(steps_.front());
      steps_.pop_front();
      lock.unlock();
      step();
      lock.lock();
    }
  }

  std::promise<pid_t> started_;  // a member: the thread may still be inside set_value
  std::thread thread_;
  pid_t tid_ = 0;
  bool named_ = false;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::packaged_task<void()>> steps_;
  bool quitting_ = false;
};

}  // namespace perfkvm::test
