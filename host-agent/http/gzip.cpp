#include "host-agent/http/gzip.hpp"

#define ZLIB_CONST  // z_stream::next_in is const: the input is never written
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <limits>
#include <optional>
#include <stdexcept>

namespace perfkvm::host::http {

namespace {

// hostd's one thread also serves every guest: the fastest level costs a fraction of the
// default's time for output only slightly larger on exposition text.
constexpr int kLevel = Z_BEST_SPEED;
constexpr int kGzipWindowBits = 15 + 16;  // 32 KiB window, gzip wrapper instead of zlib's
constexpr int kMemLevel = 8;
// zlib counts in uInt: feed and drain at most this much per deflate() call.
constexpr std::size_t kMaxChunk = std::size_t{1} << 30;

std::string_view trim(std::string_view text) {
  const auto space = [](char c) { return c == ' ' || c == '\t'; };
  while (!text.empty() && space(text.front())) text.remove_prefix(1);
  while (!text.empty() && space(text.back())) text.remove_suffix(1);
  return text;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// RFC 9110 qvalue: "0", "0.", "0.5", "1", "1.000" -> whether it is above zero; nullopt if
// malformed.
std::optional<bool> qvalue_above_zero(std::string_view q) {
  if (q.empty() || (q[0] != '0' && q[0] != '1')) return std::nullopt;
  const auto fraction = q.substr(1);
  if (!fraction.empty()) {
    if (fraction[0] != '.' || fraction.size() > 4) return std::nullopt;
    const auto digits = fraction.substr(1);
    if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return std::nullopt;
    }
    if (q[0] == '1') {
      return std::all_of(digits.begin(), digits.end(), [](char c) { return c == '0'; })
                 ? std::optional(true)
                 : std::nullopt;
    }
    return std::any_of(digits.begin(), digits.end(), [](char c) { return c != '0'; });
  }
  return q[0] == '1';
}

// Whether one element ("gzip;q=0.5") accepts its coding: q above zero, 1 when absent.
bool element_accepts(std::string_view parameters) {
  bool accepted = true;
  while (!parameters.empty()) {
    const auto semicolon = parameters.find(';');
    const auto parameter = trim(parameters.substr(0, semicolon));
    parameters = semicolon == std::string_view::npos ? std::string_view() : parameters.substr(semicolon + 1);
    const auto equals = parameter.find('=');
    if (equals == std::string_view::npos) continue;
    if (!equals_ignoring_case(trim(parameter.substr(0, equals)), "q")) continue;
    accepted = qvalue_above_zero(trim(parameter.substr(equals + 1))).value_or(false);
  }
  return accepted;
}

class Deflater {
 public:
  Deflater() {
    if (deflateInit2(&stream_, kLevel, Z_DEFLATED, kGzipWindowBits, kMemLevel, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
      throw std::runtime_error("gzip: zlib's deflateInit2 failed");
    }
  }
  ~Deflater() { deflateEnd(&stream_); }
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;
  z_stream& stream() { return stream_; }

 private:
  z_stream stream_{};
};

}  // namespace

bool accepts_gzip(std::string_view accept_encoding) {
  std::optional<bool> gzip;
  std::optional<bool> any;
  while (!accept_encoding.empty()) {
    const auto comma = accept_encoding.find(',');
    const auto element = accept_encoding.substr(0, comma);
    accept_encoding = comma == std::string_view::npos ? std::string_view() : accept_encoding.substr(comma + 1);
    const auto semicolon = element.find(';');
    const auto coding = trim(element.substr(0, semicolon));
    const auto parameters = semicolon == std::string_view::npos ? std::string_view() : element.substr(semicolon + 1);
    if (equals_ignoring_case(coding, "gzip") || equals_ignoring_case(coding, "x-gzip")) {
      gzip = gzip.value_or(false) || element_accepts(parameters);
    } else if (coding == "*") {
      any = any.value_or(false) || element_accepts(parameters);
    }
  }
  if (gzip) return *gzip;  // an explicit gzip entry overrides "*"
  return any.value_or(false);
}

std::string gzip_compress(std::string_view data) {
  Deflater deflater;
  z_stream& stream = deflater.stream();
  std::string out(deflateBound(&stream, data.size()), '\0');
  std::size_t consumed = 0;
  for (;;) {
    if (stream.avail_in == 0 && consumed < data.size()) {
      const auto chunk = std::min(data.size() - consumed, kMaxChunk);
      stream.next_in = reinterpret_cast<const Bytef*>(data.data() + consumed);
      stream.avail_in = static_cast<uInt>(chunk);
      consumed += chunk;
    }
    const auto produced = static_cast<std::size_t>(stream.total_out);
    if (produced == out.size()) out.resize(out.size() * 2 + 64);
    stream.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
    stream.avail_out = static_cast<uInt>(std::min(out.size() - produced, kMaxChunk));
    const bool last_input = consumed == data.size();
    const int status = deflate(&stream, last_input ? Z_FINISH : Z_NO_FLUSH);
    if (status == Z_STREAM_END) break;
    if (status != Z_OK && status != Z_BUF_ERROR) {
      throw std::runtime_error("gzip: zlib's deflate failed (" + std::to_string(status) + ")");
    }
  }
  out.resize(static_cast<std::size_t>(stream.total_out));
  return out;
}

}  // namespace perfkvm::host::http
