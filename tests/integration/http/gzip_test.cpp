// gzip: which Accept-Encoding values accept it, and a route's body compressed on the wire
// (decompressed here with zlib and compared) with Content-Encoding and Vary.
#include <doctest/doctest.h>
#include <zlib.h>

#include "host-agent/http/gzip.hpp"
#include "test_server.hpp"

using namespace perfkvm::test;
using perfkvm::host::http::accepts_gzip;
using perfkvm::host::http::gzip_compress;

namespace {

// The decompressed gzip member, or an exception if it is not one.
std::string gunzip(const std::string& compressed) {
  z_stream stream{};
  REQUIRE(inflateInit2(&stream, 15 + 16) == Z_OK);  // gzip wrapper only
  std::string out;
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  stream.avail_in = static_cast<uInt>(compressed.size());
  int status = Z_OK;
  while (status == Z_OK) {
    char chunk[65536];
    stream.next_out = reinterpret_cast<Bytef*>(chunk);
    stream.avail_out = sizeof chunk;
    status = inflate(&stream, Z_NO_FLUSH);
    out.append(chunk, sizeof chunk - stream.avail_out);
  }
  const bool whole = status == Z_STREAM_END && stream.avail_in == 0;
  inflateEnd(&stream);
  if (!whole) throw std::runtime_error("not one whole gzip member (zlib status " + std::to_string(status) + ")");
  return out;
}

// Exposition-like text, 200 KB or so.
std::string exposition() {
  std::string text = "# TYPE perfkvm_domain_cycles_total counter\n";
  for (int i = 0; i < 3000; ++i) {
    text += "perfkvm_domain_cycles_total{domain=\"web" + std::to_string(i % 17) + "\",vcpu=\"" +
            std::to_string(i % 8) + "\"} " + std::to_string(1234567ULL * i) + "\n";
  }
  return text;
}

}  // namespace

TEST_CASE("accepts_gzip: a gzip coding (or *) with q > 0") {
  CHECK(accepts_gzip("gzip"));
  CHECK(accepts_gzip("GZip"));
  CHECK(accepts_gzip("x-gzip"));
  CHECK(accepts_gzip("deflate, gzip"));
  CHECK(accepts_gzip("gzip;q=1.0, identity; q=0.5, *;q=0"));
  CHECK(accepts_gzip("br;q=1.0, gzip;q=0.8, *;q=0.1"));
  CHECK(accepts_gzip(" gzip ; q=0.001 "));
  CHECK(accepts_gzip("gzip;Q=1"));
  CHECK(accepts_gzip("*"));
  CHECK(accepts_gzip("deflate, *;q=0.5"));
  CHECK(accepts_gzip("gzip;level=9"));  // an unknown parameter is no q
  CHECK_FALSE(accepts_gzip(""));
  CHECK_FALSE(accepts_gzip("identity"));
  CHECK_FALSE(accepts_gzip("deflate, br"));
  CHECK_FALSE(accepts_gzip("gzip;q=0"));
  CHECK_FALSE(accepts_gzip("gzip; q=0.000"));
  CHECK_FALSE(accepts_gzip("gzip;q=0, *"));  // an explicit refusal overrides *
  CHECK_FALSE(accepts_gzip("*;q=0"));
  CHECK_FALSE(accepts_gzip("gzipx"));
  CHECK_FALSE(accepts_gzip("gzip;q=2"));     // malformed q: not accepted
  CHECK_FALSE(accepts_gzip("gzip;q=abc"));
  CHECK_FALSE(accepts_gzip("gzip;q=0.0001"));
  CHECK_FALSE(accepts_gzip(",,,;;;==="));
}

TEST_CASE("gzip_compress: one gzip member that zlib inflates back, for any size") {
  for (const std::string& text : {std::string(), std::string("a"), exposition(), std::string(3'000'000, '\x7f')}) {
    const auto compressed = gzip_compress(text);
    REQUIRE(compressed.size() >= 18);
    CHECK(static_cast<unsigned char>(compressed[0]) == 0x1f);  // the gzip magic
    CHECK(static_cast<unsigned char>(compressed[1]) == 0x8b);
    CHECK(gunzip(compressed) == text);
  }
  CHECK(gzip_compress(exposition()).size() * 5 < exposition().size());
}

TEST_CASE("gzip on the wire: Content-Encoding, Vary, Content-Length of the compressed body") {
  const std::string body = exposition();
  TestServer server({{"/metrics", [&body](const http::Request&) { return http::Response{"text/plain", body}; }}});

  const auto compressed = get(server.endpoint(), "/metrics", "Accept-Encoding: gzip\r\n");
  CHECK(compressed.status == 200);
  CHECK(compressed.header("Content-Encoding") == "gzip");
  CHECK(compressed.header("Vary") == "Accept-Encoding");
  CHECK(compressed.header("Content-Type") == "text/plain");
  CHECK(compressed.header("Content-Length") == std::to_string(compressed.body.size()));
  CHECK(compressed.body.size() * 5 < body.size());
  CHECK(gunzip(compressed.body) == body);

  // Go's client (Prometheus) and curl's ways of asking; HEAD announces the same length.
  const auto prometheus = get(server.endpoint(), "/metrics", "Accept-Encoding: gzip;q=1.0, identity;q=0.5\r\n");
  CHECK(prometheus.header("Content-Encoding") == "gzip");
  CHECK(gunzip(prometheus.body) == body);
  const auto connection = connect_plain(server.endpoint());
  REQUIRE(connection->send(request("HEAD", "/metrics", "Accept-Encoding: deflate, gzip\r\n")));
  const auto head = reply_on(*connection, true);
  CHECK(head.header("Content-Encoding") == "gzip");
  CHECK(head.header("Content-Length") == std::to_string(compressed.body.size()));

  // Not accepted: the body as it is, still with Vary.
  for (const auto* headers : {"", "Accept-Encoding: gzip;q=0\r\n", "Accept-Encoding: br, deflate\r\n"}) {
    INFO("headers: " << headers);
    const auto plain = get(server.endpoint(), "/metrics", headers);
    CHECK(plain.status == 200);
    CHECK_FALSE(plain.header("Content-Encoding"));
    CHECK(plain.header("Vary") == "Accept-Encoding");
    CHECK(plain.body == body);
  }
  // Error answers are never compressed.
  const auto missing = get(server.endpoint(), "/nothing", "Accept-Encoding: gzip\r\n");
  CHECK(missing.status == 404);
  CHECK_FALSE(missing.header("Content-Encoding"));
}
