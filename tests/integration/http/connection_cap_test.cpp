// max_connections: a thousand connections against a cap of 64 never make more than 64, and a
// normal client is served while they are held (a new connection takes the place of the one
// that waited longest for a request); only when every connection is busy answering is a new
// one refused, and write_timeout frees those.
#include <doctest/doctest.h>
#include <poll.h>
#include <sys/resource.h>

#include <thread>

#include "test_server.hpp"

using namespace perfkvm::test;
using namespace std::chrono_literals;

namespace {

std::map<std::string, http::Route> metrics_routes() {
  return {{"/metrics", [](const http::Request&) { return http::Response{"text/plain", "up 1\n"}; }}};
}

// The soft RLIMIT_NOFILE raised to at least `wanted` (within the hard limit); what it is now.
rlim_t raise_fd_limit(rlim_t wanted) {
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur < wanted) {
    limit.rlim_cur = std::min(wanted, limit.rlim_max);
    ::setrlimit(RLIMIT_NOFILE, &limit);
    ::getrlimit(RLIMIT_NOFILE, &limit);
  }
  return limit.rlim_cur;
}

}  // namespace

TEST_CASE("max_connections: 1000 held connections never make more than 64; a client is served meanwhile") {
  constexpr std::size_t kCap = 64;
  std::size_t held_count = 1000;
  const rlim_t fds = raise_fd_limit(held_count + kCap + 200);
  if (fds < held_count + kCap + 200) {
    held_count = fds - kCap - 200;
    MESSAGE("RLIMIT_NOFILE is " << fds << ": holding " << held_count << " connections instead of 1000");
  }
  http::ServerLimits limits;
  limits.max_connections = kCap;
  limits.request_timeout = 60s;  // the held connections stay until the test lets them go
  TestServer server(metrics_routes(), limits);

  std::vector<std::unique_ptr<Connection>> held;
  std::size_t most_seen = 0;
  for (std::size_t i = 0; i < held_count; ++i) {
    held.push_back(connect_plain(server.endpoint()));
    if (i % 2 == 0) held.back()->send("GET /metrics HTTP/1.1\r\nHost:");  // a request begun
    if (i % 50 == 0) most_seen = std::max(most_seen, server.connection_count());
  }
  REQUIRE(server.wait_until([&](auto& s) { return s.stats().connections_accepted == held_count; }, 20s));
  most_seen = std::max(most_seen, server.connection_count());
  CHECK(most_seen <= kCap);
  CHECK(server.connection_count() == kCap);

  // While they are held: a normal client gets its answer.
  const auto reply = get(server.endpoint(), "/metrics");
  CHECK(reply.status == 200);
  CHECK(reply.body == "up 1\n");

  // Most of the held ones were closed by the server to make room; at most the cap are open.
  std::size_t still_open = 0;
  for (const auto& connection : held) {
    if (!connection->rest_until_closed(0ms)) ++still_open;
  }
  CHECK(still_open <= kCap);
  auto stats = server.stats();
  CHECK(stats.peak_connections <= kCap);
  CHECK(stats.connections_evicted >= held_count - kCap);
  CHECK(stats.connections_refused == 0);

  held.clear();  // they go away: the server sees them close
  CHECK(server.wait_until([](auto& s) { return s.connection_count() == 0; }));
  CHECK(get(server.endpoint(), "/metrics").status == 200);
  stats = server.stats();
  CHECK(stats.peak_connections <= kCap);
}

TEST_CASE("max_connections: when every connection is busy answering, a new one is refused; write_timeout frees them") {
  // A body far beyond what the socket buffers hold: a client that does not read keeps its
  // connection busy writing.
  const std::string big(16 * 1024 * 1024, 'x');
  http::ServerLimits limits;
  limits.max_connections = 2;
  limits.write_timeout = 1500ms;
  TestServer server({{"/big", [&big](const http::Request&) { return http::Response{"text/plain", big}; }},
                     {"/metrics", [](const http::Request&) { return http::Response{"text/plain", "up 1\n"}; }}},
                    limits);
  const auto slow1 = connect_plain(server.endpoint(), 4096);
  const auto slow2 = connect_plain(server.endpoint(), 4096);
  REQUIRE(slow1->send(request("GET", "/big")));
  REQUIRE(slow2->send(request("GET", "/big")));
  REQUIRE(server.wait_until([](auto& s) { return s.stats().responses_2xx == 2; }));

  const auto start = std::chrono::steady_clock::now();
  const auto refused = connect_plain(server.endpoint());
  refused->send(request("GET", "/metrics"));
  CHECK(refused->rest_until_closed(1000ms) == "");  // closed at once, unanswered
  CHECK(server.stats().connections_refused == 1);
  CHECK(server.connection_count() == 2);

  // The two that do not read are closed at write_timeout; then there is room again.
  REQUIRE(server.wait_until([](auto& s) { return s.stats().write_timeouts == 2; }, 10s));
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(waited < 5.0);
  CHECK(get(server.endpoint(), "/metrics").status == 200);
}
