// The perf counters all of hostd's sessions may hold at once. Every guest's counters are fds
// of this one process and kernel perf memory of this one host: the per-request limit keeps one
// request from taking them all, this keeps many requests (from one guest or many) from it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

namespace perfkvm::host {

class CounterBudget {
  struct State {
    std::uint64_t limit;
    std::uint64_t in_use = 0;
  };

 public:
  // Counters taken from the budget, given back when the share is destroyed (also after the
  // budget itself is gone: the state is shared).
  class Share {
   public:
    Share() = default;
    Share(Share&& other) noexcept;
    Share& operator=(Share&& other) noexcept;
    Share(const Share&) = delete;
    Share& operator=(const Share&) = delete;
    ~Share();
    std::uint64_t count() const { return count_; }

   private:
    friend class CounterBudget;
    Share(std::shared_ptr<State> state, std::uint64_t count);
    void give_back() noexcept;
    std::shared_ptr<State> state_;
    std::uint64_t count_ = 0;
  };

  explicit CounterBudget(std::uint64_t limit);

  // Whether `count` more counters fit within the limit now.
  bool can_take(std::uint64_t count) const;
  // `count` counters, or nothing when they would take the budget over its limit.
  std::optional<Share> take(std::uint64_t count);
  void set_limit(std::uint64_t limit) { state_->limit = limit; }
  std::uint64_t limit() const { return state_->limit; }
  std::uint64_t in_use() const { return state_->in_use; }

 private:
  std::shared_ptr<State> state_;
};

}  // namespace perfkvm::host
