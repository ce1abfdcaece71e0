#include "host-agent/session/outbox.hpp"

namespace perfkvm::host {

bool Outbox::push(std::string frame, Kind kind) {
  if (!frames_.empty() && bytes_ + frame.size() > max_bytes_) return false;
  if (kind == Kind::sample) {
    if (sample_queue_full()) return false;
    ++queued_samples_;
  } else if (frames_.size() - queued_samples_ >= max_replies_) {
    return false;
  }
  bytes_ += frame.size();
  frames_.push_back({std::move(frame), kind});
  return true;
}

void Outbox::forget(const Entry& entry) {
  if (entry.kind == Kind::sample) --queued_samples_;
  bytes_ -= entry.bytes.size();
}

void Outbox::drop_all_but_front() {
  while (frames_.size() > 1) {
    forget(frames_.back());
    frames_.pop_back();
  }
}

void Outbox::pop_front() {
  forget(frames_.front());
  frames_.pop_front();
}

}  // namespace perfkvm::host
