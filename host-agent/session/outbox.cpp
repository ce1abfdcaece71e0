#include "host-agent/session/outbox.hpp"

namespace perfkvm::host {

bool Outbox::push(std::string frame, Kind kind) {
  if (kind == Kind::sample) {
    if (sample_queue_full()) return false;
    ++queued_samples_;
  } else if (frames_.size() - queued_samples_ >= max_replies_) {
    return false;
  }
  frames_.push_back({std::move(frame), kind});
  return true;
}

void Outbox::drop_all_but_front() {
  while (frames_.size() > 1) {
    if (frames_.back().kind == Kind::sample) --queued_samples_;
    frames_.pop_back();
  }
}

void Outbox::pop_front() {
  if (frames_.front().kind == Kind::sample) --queued_samples_;
  frames_.pop_front();
}

}  // namespace perfkvm::host
