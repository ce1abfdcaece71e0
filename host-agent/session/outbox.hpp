// Frames waiting to be written to one guest. Bounded: hostd never blocks on, nor buffers
// without limit for, a guest that does not read (a virtio-serial port nobody has open simply
// stops accepting bytes). Samples beyond their bound are dropped and counted; the guest sees
// the gap in sequence numbers and the count in the report. Besides the frames of each kind,
// the bytes are bounded: a frame may be up to the frame limit (1 MiB), and 64 replies of that
// size would be 64 MiB for one guest that does not read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>

namespace perfkvm::host {

class Outbox {
 public:
  enum class Kind { reply, sample };

  // An empty outbox takes any one frame, whatever its size: a frame larger than `max_bytes`
  // is still sent (the frame limit bounds it), only never queued behind others.
  Outbox(std::size_t max_samples, std::size_t max_replies, std::size_t max_bytes)
      : max_samples_(max_samples), max_replies_(max_replies), max_bytes_(max_bytes) {}

  // Queues a frame; false if it was dropped because its kind's bound, or the bytes' bound, is
  // reached.
  bool push(std::string frame, Kind kind);

  bool empty() const { return frames_.empty(); }
  const std::string& front() const { return frames_.front().bytes; }
  void pop_front();
  // Drops every queued frame but the first, which the writer may be writing already (a frame
  // that has begun must be finished, or the guest's decoder loses the next one too).
  void drop_all_but_front();

  std::size_t queued_samples() const { return queued_samples_; }
  // Whether a sample pushed now would be dropped for the samples' bound.
  bool sample_queue_full() const { return queued_samples_ >= max_samples_; }
  std::size_t size() const { return frames_.size(); }
  std::size_t bytes() const { return bytes_; }

 private:
  struct Entry {
    std::string bytes;
    Kind kind;
  };
  void forget(const Entry& entry);

  std::deque<Entry> frames_;
  std::size_t queued_samples_ = 0;
  std::size_t bytes_ = 0;
  std::size_t max_samples_;
  std::size_t max_replies_;
  std::size_t max_bytes_;
};

}  // namespace perfkvm::host
