#include "util/printable.hpp"

namespace perfkvm {
namespace {

// The length of the valid UTF-8 sequence at text[at], or 0 if none starts there.
std::size_t utf8_sequence(std::string_view text, std::size_t at) {
  const auto lead = static_cast<unsigned char>(text[at]);
  std::size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;  // the second byte's range (RFC 3629, table 3-7)
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;   // no overlong forms
    if (lead == 0xED) high = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (at + length > text.size()) return 0;
  for (std::size_t i = 1; i < length; ++i) {
    const auto byte = static_cast<unsigned char>(text[at + i]);
    if (byte < (i == 1 ? low : 0x80) || byte > (i == 1 ? high : 0xBF)) return 0;
  }
  return length;
}

// The code point of the valid `length`-byte sequence at text[at].
char32_t code_point(std::string_view text, std::size_t at, std::size_t length) {
  static constexpr unsigned char kLeadMask[] = {0, 0x7F, 0x1F, 0x0F, 0x07};
  char32_t point = static_cast<unsigned char>(text[at]) & kLeadMask[length];
  for (std::size_t i = 1; i < length; ++i) {
    point = (point << 6) | (static_cast<unsigned char>(text[at + i]) & 0x3F);
  }
  return point;
}

// Valid characters that still change how the text around them reads: C1 controls (some
// terminals act on them), the line and paragraph separators (a forged line), and the bidi
// controls that reorder what a reader sees (CVE-2021-42574's "trojan source").
bool deceptive(char32_t point) {
  return (point >= 0x80 && point <= 0x9F) || point == 0x2028 || point == 0x2029 ||
         point == 0x061C || point == 0x200E || point == 0x200F ||
         (point >= 0x202A && point <= 0x202E) || (point >= 0x2066 && point <= 0x2069);
}

}  // namespace

std::string printable(std::string_view text, std::size_t max_bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t at = 0; at < text.size();) {
    const auto byte = static_cast<unsigned char>(text[at]);
    std::string piece;
    if (byte >= 0x20 && byte < 0x7F && byte != '\\') {
      piece = text.substr(at, 1);
      at += 1;
    } else if (const std::size_t length = byte >= 0x80 ? utf8_sequence(text, at) : 0;
               length != 0 && !deceptive(code_point(text, at, length))) {
      piece = text.substr(at, length);
      at += length;
    } else if (length != 0) {
      for (std::size_t i = 0; i < length; ++i) {  // each byte, as for invalid UTF-8
        const auto b = static_cast<unsigned char>(text[at + i]);
        piece += {'\\', 'x', kHex[b >> 4], kHex[b & 0xF]};
      }
      at += length;
    } else {
      piece = {'\\', 'x', kHex[byte >> 4], kHex[byte & 0xF]};
      at += 1;
    }
    if (out.size() + piece.size() > max_bytes) return out + "...";
    out += piece;
  }
  return out;
}

}  // namespace perfkvm
