// Requests the server must refuse, and clients too slow to keep a connection: 431, 400,
// 413 (each answered, then closed), slowloris (request_timeout), idle keep-alive
// (idle_timeout).
#include <doctest/doctest.h>

#include <random>
#include <thread>

#include "test_server.hpp"

using namespace perfkvm::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

std::map<std::string, http::Route> metrics_routes() {
  return {{"/metrics", [](const http::Request&) { return http::Response{"text/plain", "up 1\n"}; }}};
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Sends `bytes`, expects `status` and then the close; the server must still serve others.
void refused_with(TestServer& server, const std::string& bytes, int status) {
  const auto connection = connect_plain(server.endpoint());
  connection->send(bytes);  // may fail part way: the server can close before all is sent
  const auto reply = reply_on(*connection);
  CHECK(reply.status == status);
  CHECK(reply.header("Connection") == "close");
  CHECK(reply.header("Server") == "perfkvm-hostd");
  CHECK_MESSAGE(connection->rest_until_closed(3s), "the server did not close the connection");
  CHECK(get(server.endpoint(), "/metrics").status == 200);
}

}  // namespace

TEST_CASE("headers beyond max_header_bytes: 431 and close") {
  http::ServerLimits limits;
  limits.max_header_bytes = 8192;
  TestServer server(metrics_routes(), limits);
  refused_with(server, request("GET", "/metrics", "X-Big: " + std::string(10000, 'a') + "\r\n"), 431);
  std::string many;
  for (int i = 0; i < 1000; ++i) many += "X-Header-" + std::to_string(i) + ": value\r\n";
  refused_with(server, request("GET", "/metrics", many), 431);
  refused_with(server, "GET /" + std::string(9000, 'm') + " HTTP/1.1\r\n\r\n", 431);
  // Just under the limit is fine.
  const auto fits = get(server.endpoint(), "/metrics", "X-Fits: " + std::string(7000, 'a') + "\r\n");
  CHECK(fits.status == 200);
  CHECK(server.stats().responses_4xx == 3);
}

TEST_CASE("a malformed request: 400 and close, and the server goes on") {
  TestServer server(metrics_routes());
  refused_with(server, "HELLO\r\n\r\n", 400);
  refused_with(server, std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + "\r\n\r\n", 400);
  refused_with(server, std::string("\0\0\0\0\r\n\r\n", 8), 400);
  refused_with(server, "GET /metrics HTTP/9\r\n\r\n", 400);
  refused_with(server, "GET /metrics HTTP/1.1\r\nNo colon here\r\n\r\n", 400);
  refused_with(server, "GET /metrics HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400);
  refused_with(server, "GET /metrics HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400);
  // Chunked: refused from the header (no GET needs a body), before the chunk parser runs.
  refused_with(server, "GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 413);
  refused_with(server, "GET /me trics HTTP/1.1\r\n\r\n", 400);
  CHECK(server.stats().responses_4xx == 9);
}

TEST_CASE("a chunked last chunk followed by one byte in the next read does not abort the "
          "server (Boost 1.81's chunk parser asserts on it: fuzz/regressions/http_request)") {
  TestServer server(metrics_routes());
  const auto connection = connect_plain(server.endpoint());
  connection->send("GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n");
  std::this_thread::sleep_for(300ms);  // the server reads that much on its own
  connection->send("h");
  const auto reply = reply_on(*connection);
  CHECK(reply.status == 413);
  CHECK(get(server.endpoint(), "/metrics").status == 200);  // still serving
}

TEST_CASE("a GET with a body: 413 and close") {
  TestServer server(metrics_routes());
  refused_with(server, request("GET", "/metrics", "Content-Length: 5\r\n") + "hello", 413);
  refused_with(server, request("GET", "/metrics", "Transfer-Encoding: chunked\r\n") + "5\r\nhello\r\n0\r\n\r\n", 413);
  // An empty body is no body.
  CHECK(get(server.endpoint(), "/metrics", "Content-Length: 0\r\n").status == 200);
}

TEST_CASE("slowloris: a request dribbled a byte per 100 ms is closed at request_timeout") {
  http::ServerLimits limits;
  limits.request_timeout = 1000ms;
  TestServer server(metrics_routes(), limits);
  const auto connection = connect_plain(server.endpoint());
  const auto start = Clock::now();
  // Never ends: the header line goes on and on.
  const std::string endless = "GET /metrics HTTP/1.1\r\nHost: perfkvm-test\r\nX-Slow: " + std::string(100000, 'x');
  bool closed = false;
  for (std::size_t i = 0; i < endless.size() && seconds_since(start) < 10; ++i) {
    if (!connection->send(endless.substr(i, 1))) {
      closed = true;
      break;
    }
    // The close shows as EOF or reset to a read; between bytes the client waits 100 ms.
    if (connection->rest_until_closed(100ms)) {
      closed = true;
      break;
    }
  }
  const double elapsed = seconds_since(start);
  CHECK(closed);
  CHECK(elapsed > 0.8);
  CHECK(elapsed < 3.0);
  CHECK(server.stats().request_timeouts == 1);
  CHECK(get(server.endpoint(), "/metrics").status == 200);
}

TEST_CASE("a connection that sends nothing is closed at request_timeout") {
  http::ServerLimits limits;
  limits.request_timeout = 500ms;
  limits.idle_timeout = 30s;
  TestServer server(metrics_routes(), limits);
  const auto start = Clock::now();
  const auto connection = connect_plain(server.endpoint());
  CHECK(connection->rest_until_closed(5s) == "");
  CHECK(seconds_since(start) > 0.4);
  CHECK(seconds_since(start) < 2.5);
  CHECK(server.stats().request_timeouts == 1);
}

TEST_CASE("an idle keep-alive connection is closed at idle_timeout, not before") {
  http::ServerLimits limits;
  limits.request_timeout = 300ms;
  limits.idle_timeout = 1000ms;
  TestServer server(metrics_routes(), limits);
  const auto connection = connect_plain(server.endpoint());
  REQUIRE(connection->send(request("GET", "/metrics")));
  CHECK(reply_on(*connection).status == 200);
  // Past request_timeout but within idle_timeout: a second request still works.
  std::this_thread::sleep_for(600ms);
  REQUIRE(connection->send(request("GET", "/metrics")));
  CHECK(reply_on(*connection).status == 200);
  const auto idle_since = Clock::now();
  CHECK(connection->rest_until_closed(5s) == "");
  CHECK(seconds_since(idle_since) > 0.8);
  CHECK(seconds_since(idle_since) < 3.0);
  CHECK(server.stats().request_timeouts == 0);  // an idle close is routine, not a timeout
}

TEST_CASE("random bytes from many clients never crash or wedge the server") {
  http::ServerLimits limits;
  limits.request_timeout = 1000ms;
  TestServer server(metrics_routes(), limits);
  std::mt19937 random(20240611);  // fixed: a failure can be replayed
  const std::vector<std::string> pieces = {"GET ", "HEAD ", "POST ", "/metrics", "?", " HTTP/1.1", " HTTP/1.0",
                                           "\r\n", "\r\n\r\n", "\n", "Host: x", "Content-Length: ", "Transfer-Encoding: chunked",
                                           "Connection: close", "Accept-Encoding: gzip;q=", ":", " ", "0", "1", "ffffffffffffffff",
                                           std::string(1, '\0'), "\x16\x03\x01", "\xff\xfe", std::string(300, 'a')};
  for (int i = 0; i < 300; ++i) {
    std::string bytes;
    const int count = std::uniform_int_distribution<int>(1, 40)(random);
    for (int p = 0; p < count; ++p) {
      if (random() % 4 == 0) {
        bytes += static_cast<char>(random() % 256);
      } else {
        bytes += pieces[random() % pieces.size()];
      }
    }
    const auto connection = connect_plain(server.endpoint());
    connection->send(bytes);
    connection->rest_until_closed(20ms);  // whatever comes back; then the client goes away
  }
  CHECK(get(server.endpoint(), "/metrics").status == 200);
  CHECK(server.wait_until([](auto& s) { return s.connection_count() == 0; }));
  const auto stats = server.stats();
  INFO("4xx: " << stats.responses_4xx << ", 2xx: " << stats.responses_2xx);
  CHECK(stats.responses_4xx > 50);  // most of it was refused, not silently dropped
  CHECK(stats.responses_5xx == 0);
}
