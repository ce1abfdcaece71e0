#include "protocol/frame.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace perfkvm::protocol {

std::array<std::uint8_t, kHeaderSize> frame_header(std::uint32_t payload_size) {
  return {kSyncByte,
          kMagic0,
          kMagic1,
          kFrameFormatVersion,
          static_cast<std::uint8_t>(payload_size >> 24),
          static_cast<std::uint8_t>(payload_size >> 16),
          static_cast<std::uint8_t>(payload_size >> 8),
          static_cast<std::uint8_t>(payload_size)};
}

namespace {

constexpr std::array<std::uint8_t, 4> kExpectedHeader{kSyncByte, kMagic0, kMagic1,
                                                      kFrameFormatVersion};

bool header_has_sync_in_length(std::size_t length) {
  for (int shift = 0; shift < 32; shift += 8) {
    if (((length >> shift) & 0xFF) == kSyncByte) return true;
  }
  return false;
}

}  // namespace

void seal_frame(std::string& frame, std::size_t max_payload) {
  if (frame.size() < kHeaderSize) throw std::invalid_argument("frame has no room for a header");
  const std::size_t payload_size = frame.size() - kHeaderSize;
  if (payload_size < kMinPayload) {
    throw std::invalid_argument("frame payload of " + std::to_string(payload_size) +
                                " bytes is shorter than any JSON object");
  }
  if (frame.find(static_cast<char>(kSyncByte), kHeaderSize) != std::string::npos) {
    throw std::invalid_argument("frame payload contains byte 0xFF, which is not UTF-8");
  }
  // Keep 0xFF out of the length bytes too, so that 0xFF marks frame starts and nothing else:
  // pad with trailing spaces, which JSON ignores.
  std::size_t length = payload_size;
  while (header_has_sync_in_length(length)) ++length;
  if (length > std::min(max_payload, kDefaultMaxPayload)) {
    throw std::invalid_argument("frame payload of " + std::to_string(payload_size) +
                                " bytes exceeds the maximum of " + std::to_string(max_payload));
  }
  frame.append(length - payload_size, ' ');
  const auto header = frame_header(static_cast<std::uint32_t>(length));
  std::copy(header.begin(), header.end(), frame.begin());
}

std::string encode_frame(std::string_view payload, std::size_t max_payload) {
  std::string frame;
  frame.reserve(kHeaderSize + payload.size() + 1);
  frame.append(kHeaderSize, '\0');
  frame.append(payload);
  seal_frame(frame, max_payload);
  return frame;
}

FrameDecoder::FrameDecoder(std::size_t max_payload)
    : max_payload_(std::min(max_payload, kDefaultMaxPayload)) {
  if (max_payload_ < kMinPayload) {
    throw std::invalid_argument("maximum frame payload must be at least " +
                                std::to_string(kMinPayload) + " bytes");
  }
}

std::optional<std::string> FrameDecoder::next(std::string_view& input) {
  std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(input.data()),
                                      input.size());
  auto frame = next(bytes);
  input.remove_prefix(input.size() - bytes.size());
  return frame;
}

std::optional<std::string> FrameDecoder::next(std::span<const std::uint8_t>& input) {
  while (!input.empty()) {
    switch (state_) {
      case State::seeking_sync: {
        const void* sync = std::memchr(input.data(), kSyncByte, input.size());
        const std::size_t skip =
            sync ? static_cast<std::size_t>(static_cast<const std::uint8_t*>(sync) - input.data())
                 : input.size();
        stats_.discarded_bytes += skip;
        input = input.subspan(skip);
        if (sync) state_ = State::header;
        break;
      }
      case State::header:
        consume_header_byte(input.front());
        input = input.subspan(1);
        break;
      case State::payload: {
        const std::size_t wanted = payload_expected_ - payload_.size();
        const std::size_t available = std::min(wanted, input.size());
        // A 0xFF inside the payload means this frame was cut short and a new one starts.
        const void* sync = std::memchr(input.data(), kSyncByte, available);
        const std::size_t take =
            sync ? static_cast<std::size_t>(static_cast<const std::uint8_t*>(sync) - input.data())
                 : available;
        payload_.append(reinterpret_cast<const char*>(input.data()), take);
        input = input.subspan(take);
        if (sync) {
          ++stats_.truncated;
          discard_pending();
          break;
        }
        if (payload_.size() == payload_expected_) {
          ++stats_.frames;
          header_used_ = 0;
          state_ = State::seeking_sync;
          return std::exchange(payload_, std::string{});
        }
        break;
      }
    }
  }
  return std::nullopt;
}

void FrameDecoder::consume_header_byte(std::uint8_t byte) {
  header_[header_used_++] = byte;
  // 0xFF only ever starts a frame (encoders keep it out of the length, see encode_frame):
  // here it means this header was cut short and the next frame begins.
  if (header_used_ > 1 && byte == kSyncByte) {
    ++stats_.bad_headers;
    reject_header();
    return;
  }
  switch (header_used_) {
    case 2:
    case 3:
    case 4:
      if (byte != kExpectedHeader[header_used_ - 1]) {
        ++stats_.bad_headers;
        reject_header();
      }
      break;
    case kHeaderSize: {
      const std::size_t length = (std::size_t{header_[4]} << 24) | (std::size_t{header_[5]} << 16) |
                                 (std::size_t{header_[6]} << 8) | std::size_t{header_[7]};
      if (length > max_payload_) {
        ++stats_.oversize;
        reject_header();
      } else if (length < kMinPayload) {
        ++stats_.bad_headers;
        reject_header();
      } else {
        payload_expected_ = length;
        // Grow with the bytes that really arrive: a bare header must not cost a megabyte.
        payload_.reserve(std::min<std::size_t>(length, 64 * 1024));
        state_ = State::payload;
      }
      break;
    }
    default:
      break;
  }
}

void FrameDecoder::reject_header() {
  // The rejected header may hold the start of the real next frame (garbage "FF 50" followed
  // by a frame, say): drop its first byte and run the rest through the scanner again.
  const std::array<std::uint8_t, kHeaderSize> held = header_;
  std::span<const std::uint8_t> rest(held.data() + 1, header_used_ - 1);
  stats_.discarded_bytes += 1;
  header_used_ = 0;
  state_ = State::seeking_sync;
  for (const std::uint8_t byte : rest) {
    if (state_ == State::seeking_sync && byte != kSyncByte) {
      ++stats_.discarded_bytes;
      continue;
    }
    state_ = State::header;
    consume_header_byte(byte);  // fewer than kHeaderSize bytes: cannot complete a header
  }
}

void FrameDecoder::discard_pending() {
  stats_.discarded_bytes += header_used_ + payload_.size();
  header_used_ = 0;
  payload_.clear();
  payload_expected_ = 0;
  state_ = State::seeking_sync;
}

void FrameDecoder::reset() {
  if (pending_bytes() > 0) ++stats_.truncated;
  discard_pending();
}

}  // namespace perfkvm::protocol
