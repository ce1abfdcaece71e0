// Frame encoder and incremental decoder: every case asserts the exact frames returned and the
// exact bytes discarded.
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "protocol/frame.hpp"

using namespace perfkvm::protocol;

namespace {

std::string header(std::uint32_t length) {
  const auto h = frame_header(length);
  return std::string(h.begin(), h.end());
}

struct Decoded {
  std::vector<std::string> frames;
  DecoderStats stats;
  std::size_t max_pending = 0;  // the most the decoder ever held
};

// Feeds `stream` in chunks of `chunk` bytes (the last one may be shorter).
Decoded decode(const std::string& stream, std::size_t chunk, FrameDecoder decoder = FrameDecoder()) {
  Decoded out;
  for (std::size_t at = 0; at < stream.size(); at += chunk) {
    std::string_view piece = std::string_view(stream).substr(at, chunk);
    while (auto frame = decoder.next(piece)) out.frames.push_back(*frame);
    out.max_pending = std::max(out.max_pending, decoder.pending_bytes());
  }
  out.stats = decoder.stats();
  return out;
}

const std::string kA = R"({"type":"keepalive","nonce":"0123456789abcdef"})";
const std::string kB = R"({"type":"stop","nonce":"0123456789abcdef","request_id":7})";

}  // namespace

TEST_CASE("frame header layout: sync, magic, version, big-endian length") {
  const std::string h = header(0x00012345);
  REQUIRE(h.size() == kHeaderSize);
  CHECK(static_cast<unsigned char>(h[0]) == 0xFF);
  CHECK(h[1] == 'P');
  CHECK(h[2] == 'K');
  CHECK(h[3] == 1);
  CHECK(h.substr(4) == std::string("\x00\x01\x23\x45", 4));
  CHECK(encode_frame(kA) == header(static_cast<std::uint32_t>(kA.size())) + kA);
}

TEST_CASE("a single frame decodes in every chunking, one byte at a time included") {
  const std::string stream = encode_frame(kA) + encode_frame(kB);
  for (std::size_t chunk = 1; chunk <= stream.size(); ++chunk) {
    CAPTURE(chunk);
    const auto out = decode(stream, chunk);
    REQUIRE(out.frames.size() == 2);
    CHECK(out.frames[0] == kA);
    CHECK(out.frames[1] == kB);
    CHECK(out.stats == DecoderStats{.frames = 2});
  }
}

TEST_CASE("garbage before a frame is skipped and counted") {
  const std::string garbage = "login: \x01\x02 some console noise\n";
  const auto out = decode(garbage + encode_frame(kA), 1);
  REQUIRE(out.frames == std::vector<std::string>{kA});
  CHECK(out.stats == DecoderStats{.frames = 1, .discarded_bytes = garbage.size()});
}

TEST_CASE("a stray 0xFF with a wrong magic is a bad header; the next frame still decodes") {
  const std::string garbage("\xFF\x00xyz", 5);
  const auto out = decode(garbage + encode_frame(kA), 1);
  REQUIRE(out.frames == std::vector<std::string>{kA});
  CHECK(out.stats == DecoderStats{.frames = 1, .discarded_bytes = 5, .bad_headers = 1});
}

TEST_CASE("wrong format version is a bad header") {
  std::string frame = encode_frame(kA);
  frame[3] = 2;
  const auto out = decode(frame + encode_frame(kB), 3);
  REQUIRE(out.frames == std::vector<std::string>{kB});
  CHECK(out.stats.bad_headers == 1);
  CHECK(out.stats.discarded_bytes == frame.size());
}

TEST_CASE("a header cut short by the next frame's sync byte") {
  for (std::size_t kept = 1; kept < kHeaderSize; ++kept) {
    CAPTURE(kept);
    const std::string partial = encode_frame(kB).substr(0, kept);
    const auto out = decode(partial + encode_frame(kA), 1);
    REQUIRE(out.frames == std::vector<std::string>{kA});
    CHECK(out.stats.discarded_bytes == kept);
    CHECK(out.stats.bad_headers == 1);
  }
}

TEST_CASE("a truncated frame followed by a valid one: the stale half-frame is dropped") {
  const std::string stale = encode_frame(kB).substr(0, kHeaderSize + 20);
  for (std::size_t chunk : {1u, 7u, 4096u}) {
    CAPTURE(chunk);
    const auto out = decode(stale + encode_frame(kA), chunk);
    REQUIRE(out.frames == std::vector<std::string>{kA});
    CHECK(out.stats == DecoderStats{.frames = 1, .discarded_bytes = stale.size(), .truncated = 1});
  }
}

TEST_CASE("an oversize length is rejected without buffering the payload") {
  FrameDecoder decoder(1000);
  const std::string big_payload = "{\"x\":\"" + std::string(2000, 'a') + "\"}";
  const std::string stream =
      header(static_cast<std::uint32_t>(big_payload.size())) + big_payload + encode_frame(kA);
  const auto out = decode(stream, 1, decoder);
  REQUIRE(out.frames == std::vector<std::string>{kA});
  CHECK(out.stats == DecoderStats{.frames = 1,
                                  .discarded_bytes = kHeaderSize + big_payload.size(),
                                  .oversize = 1});
  CHECK(out.max_pending <= kHeaderSize + kA.size());
}

TEST_CASE("the maximum payload is configurable lower and inclusive") {
  const std::string exactly = "{\"k\":\"" + std::string(92, 'v') + "\"}";  // 100 bytes
  REQUIRE(exactly.size() == 100);
  CHECK(decode(encode_frame(exactly), 5, FrameDecoder(100)).frames.size() == 1);
  const auto out = decode(header(101) + exactly + " ", 5, FrameDecoder(100));
  CHECK(out.frames.empty());
  CHECK(out.stats.oversize == 1);
  CHECK_THROWS_AS(encode_frame(exactly + " ", 100), std::invalid_argument);
}

TEST_CASE("lengths 0 and 1 are bad headers") {
  for (std::uint32_t length : {0u, 1u}) {
    const auto out = decode(header(length) + "{" + encode_frame(kA), 1);
    REQUIRE(out.frames == std::vector<std::string>{kA});
    CHECK(out.stats.bad_headers == 1);
    CHECK(out.stats.discarded_bytes == kHeaderSize + 1);
  }
}

TEST_CASE("encode_frame keeps 0xFF out of the length by padding with spaces") {
  const std::string payload = "{\"p\":\"" + std::string(0x1FF - 8, 'x') + "\"}";  // 511 bytes
  REQUIRE(payload.size() == 0x1FF);
  const std::string frame = encode_frame(payload);
  CHECK(frame.substr(4, 4) == std::string("\x00\x00\x02\x00", 4));
  CHECK(frame.find('\xFF', 1) == std::string::npos);
  const auto out = decode(frame, 1);
  REQUIRE(out.frames.size() == 1);
  CHECK(out.frames[0] == payload + " ");
}

TEST_CASE("encode_frame refuses what no decoder could read") {
  CHECK_THROWS_AS(encode_frame("{}\xFF"), std::invalid_argument);
  CHECK_THROWS_AS(encode_frame("{"), std::invalid_argument);
  CHECK_THROWS_AS(encode_frame(std::string(kDefaultMaxPayload + 1, ' ')), std::invalid_argument);
}

TEST_CASE("reset drops a partial frame, e.g. when the transport reconnects") {
  FrameDecoder decoder;
  const std::string frame = encode_frame(kB);
  std::string_view partial = std::string_view(frame).substr(0, 12);
  CHECK_FALSE(decoder.next(partial));
  CHECK(decoder.pending_bytes() == 12);
  decoder.reset();
  CHECK(decoder.pending_bytes() == 0);
  CHECK(decoder.stats() == DecoderStats{.discarded_bytes = 12, .truncated = 1});
  const std::string whole = encode_frame(kA);
  std::string_view input = whole;
  CHECK(decoder.next(input) == kA);
}

TEST_CASE("next() stops after each frame and leaves the rest of the input") {
  FrameDecoder decoder;
  const std::string stream = encode_frame(kA) + encode_frame(kB);
  std::string_view input = stream;
  CHECK(decoder.next(input) == kA);
  CHECK(input.size() == kHeaderSize + kB.size());
  CHECK(decoder.next(input) == kB);
  CHECK(input.empty());
  CHECK_FALSE(decoder.next(input));
}
