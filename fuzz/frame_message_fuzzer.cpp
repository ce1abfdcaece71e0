// libFuzzer target: a byte stream through the frame decoder, in chunks, and every frame (and
// the whole input as one payload) through parse_message. Checks, beyond "no crash":
//   - every byte is accounted for: frame bytes + discarded + pending == bytes fed;
//   - the decoder never holds more than a header plus the maximum payload;
//   - a payload that parses survives serialize -> parse unchanged.
// Input layout: byte 0 picks the chunk size and the maximum payload; the rest is the stream.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>

#include "protocol/codec.hpp"

using namespace perfkvm::protocol;

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

void check_round_trip(std::string_view payload) {
  const auto parsed = parse_message(payload);
  const auto* message = std::get_if<Message>(&parsed);
  if (!message) return;
  const auto again = parse_message(serialize_message(*message));
  check(std::holds_alternative<Message>(again));
  check(std::get<Message>(again) == *message);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t chunk = (data[0] & 0x0F) + 1;
  const std::size_t max_payload = (data[0] & 0x80) ? 256 : kDefaultMaxPayload;
  std::span<const std::uint8_t> stream(data + 1, size - 1);

  FrameDecoder decoder(max_payload);
  std::uint64_t frame_bytes = 0;
  for (std::size_t at = 0; at < stream.size(); at += chunk) {
    auto piece = stream.subspan(at, std::min(chunk, stream.size() - at));
    while (auto payload = decoder.next(piece)) {
      check(payload->size() <= max_payload);
      check(payload->find('\xFF') == std::string::npos);
      frame_bytes += kHeaderSize + payload->size();
      check_round_trip(*payload);
    }
    check(decoder.pending_bytes() <= kHeaderSize + max_payload);
  }
  const auto& stats = decoder.stats();
  check(frame_bytes + stats.discarded_bytes + decoder.pending_bytes() == stream.size());

  check_round_trip(std::string_view(reinterpret_cast<const char*>(stream.data()), stream.size()));
  return 0;
}
