// Framing of perfkvm messages on a byte stream (virtio-serial port, vsock, unix socket).
//
// A frame is an 8-byte header followed by a UTF-8 JSON payload:
//
//   0xFF  'P'  'K'  version  len[0] len[1] len[2] len[3]   payload...
//
// 0xFF never occurs in UTF-8, and encoders keep it out of the length bytes, so it occurs only
// as a frame start: after garbage, a bad header, or a frame cut short (stale half-frames are
// normal on virtio-serial), the decoder resynchronises at the next 0xFF. See PROTOCOL.md.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace perfkvm::protocol {

inline constexpr std::uint8_t kSyncByte = 0xFF;
inline constexpr std::uint8_t kMagic0 = 'P';
inline constexpr std::uint8_t kMagic1 = 'K';
inline constexpr std::uint8_t kFrameFormatVersion = 1;
inline constexpr std::size_t kHeaderSize = 8;
inline constexpr std::size_t kDefaultMaxPayload = 1024 * 1024;
// The smallest JSON object, "{}", is two bytes: shorter lengths are bad headers.
inline constexpr std::size_t kMinPayload = 2;

// Returns the header for a payload of `payload_size` bytes.
std::array<std::uint8_t, kHeaderSize> frame_header(std::uint32_t payload_size);

// Returns header + payload, the payload padded with trailing spaces when its length would have
// a 0xFF byte. Throws std::invalid_argument if the (padded) payload is larger than
// `max_payload`, shorter than kMinPayload, or contains a 0xFF byte (not UTF-8; it would
// desynchronise every reader).
std::string encode_frame(std::string_view payload, std::size_t max_payload = kDefaultMaxPayload);

// The same in place, for writers that serialize straight into the frame: `frame` holds
// kHeaderSize bytes of room followed by the payload; the header is filled in.
void seal_frame(std::string& frame, std::size_t max_payload = kDefaultMaxPayload);

// What the decoder threw away, for logs and tests. Every discarded byte is counted once.
struct DecoderStats {
  std::uint64_t frames = 0;           // whole frames returned
  std::uint64_t discarded_bytes = 0;  // garbage, rejected headers, truncated frames
  std::uint64_t bad_headers = 0;      // wrong magic/version, length 0/1, or 0xFF in a header
  std::uint64_t oversize = 0;         // header announced more than max_payload
  std::uint64_t truncated = 0;        // a frame cut short by the next 0xFF

  bool operator==(const DecoderStats&) const = default;
};

// Incremental frame decoder. Bytes may arrive in any chunking, one at a time included.
// It buffers at most one payload, never more than max_payload bytes.
class FrameDecoder {
 public:
  explicit FrameDecoder(std::size_t max_payload = kDefaultMaxPayload);

  // Consumes bytes from the front of `input` until a frame is complete (returned, with
  // `input` advanced past it) or `input` is exhausted (nullopt; partial state is kept).
  //   while (auto payload = decoder.next(input)) handle(*payload);
  std::optional<std::string> next(std::span<const std::uint8_t>& input);
  std::optional<std::string> next(std::string_view& input);

  // Drops any partial frame, e.g. when the transport reconnects. Counts it as discarded.
  void reset();

  const DecoderStats& stats() const { return stats_; }
  std::size_t max_payload() const { return max_payload_; }
  // Bytes held for the frame in progress (header + payload so far); 0 between frames.
  std::size_t pending_bytes() const { return header_used_ + payload_.size(); }

 private:
  enum class State { seeking_sync, header, payload };

  void consume_header_byte(std::uint8_t byte);
  void reject_header();
  void discard_pending();

  std::size_t max_payload_;
  State state_ = State::seeking_sync;
  std::array<std::uint8_t, kHeaderSize> header_{};
  std::size_t header_used_ = 0;
  std::size_t payload_expected_ = 0;
  std::string payload_;
  DecoderStats stats_;
};

}  // namespace perfkvm::protocol
