#include "host-agent/session/counter_budget.hpp"

#include <utility>

namespace perfkvm::host {

CounterBudget::CounterBudget(std::uint64_t limit)
    : state_(std::make_shared<State>(State{limit})) {}

bool CounterBudget::can_take(std::uint64_t count) const {
  return count <= state_->limit && state_->in_use <= state_->limit - count;
}

std::optional<CounterBudget::Share> CounterBudget::take(std::uint64_t count) {
  if (!can_take(count)) return std::nullopt;
  state_->in_use += count;
  return Share(state_, count);
}

CounterBudget::Share::Share(std::shared_ptr<State> state, std::uint64_t count)
    : state_(std::move(state)), count_(count) {}

CounterBudget::Share::Share(Share&& other) noexcept
    : state_(std::move(other.state_)), count_(std::exchange(other.count_, 0)) {}

CounterBudget::Share& CounterBudget::Share::operator=(Share&& other) noexcept {
  if (this != &other) {
    give_back();
    state_ = std::move(other.state_);
    count_ = std::exchange(other.count_, 0);
  }
  return *this;
}

CounterBudget::Share::~Share() { give_back(); }

void CounterBudget::Share::give_back() noexcept {
  if (state_) state_->in_use -= count_;
  state_.reset();
  count_ = 0;
}

}  // namespace perfkvm::host
