// The server's life: stop() closes the acceptor and every connection, destroying the server
// does the same, a port already taken is a clear system_error, and IPv6 loopback works.
#include <doctest/doctest.h>

#include <boost/asio/io_context.hpp>
#include <boost/system/system_error.hpp>

#include "host-agent/http/listen_address.hpp"
#include "test_server.hpp"

using namespace perfkvm::test;
using namespace std::chrono_literals;
using boost::asio::ip::tcp;

namespace {

std::map<std::string, http::Route> metrics_routes() {
  return {{"/metrics", [](const http::Request&) { return http::Response{"text/plain", "up 1\n"}; }}};
}

bool can_connect(const Endpoint& endpoint) {
  try {
    connect_plain(endpoint);
    return true;
  } catch (const std::runtime_error&) {
    return false;
  }
}

}  // namespace

TEST_CASE("stop() closes the acceptor and every connection") {
  TestServer server(metrics_routes());
  const auto idle = connect_plain(server.endpoint());
  REQUIRE(idle->send(request("GET", "/metrics")));
  CHECK(reply_on(*idle).status == 200);
  const auto silent = connect_plain(server.endpoint());
  const auto partial = connect_plain(server.endpoint());
  REQUIRE(partial->send("GET /metr"));
  REQUIRE(server.wait_until([](auto& s) { return s.connection_count() == 3; }));

  server.stop();
  CHECK(server.connection_count() == 0);
  CHECK(idle->rest_until_closed(2s));
  CHECK(silent->rest_until_closed(2s));
  CHECK(partial->rest_until_closed(2s));
  CHECK_FALSE(can_connect(server.endpoint()));
}

TEST_CASE("destroying the server closes its connections; the io_context goes on cleanly") {
  boost::asio::io_context io;
  std::optional<http::HttpServer> server;
  server.emplace(io.get_executor(), loopback_any_port(), metrics_routes());
  server->start();
  const auto endpoint = server->local_endpoint();
  const auto client = connect_plain(endpoint);
  REQUIRE(client->send(request("GET", "/metrics") + "GET /met"));  // one answered, one begun
  io.run_for(200ms);
  CHECK(server->connection_count() == 1);
  server.reset();
  io.run_for(200ms);  // the connection's coroutine ends after its server object is gone
  CHECK(client->read_reply()->status == 200);
  CHECK(client->rest_until_closed(1s));
  CHECK_FALSE(can_connect(endpoint));
}

TEST_CASE("a port already in use: boost::system::system_error naming the address") {
  boost::asio::io_context io;
  http::HttpServer first(io.get_executor(), loopback_any_port(), metrics_routes());
  const auto taken = first.local_endpoint();
  try {
    http::HttpServer second(io.get_executor(), taken, metrics_routes());
    FAIL("a second server bound " << http::format_endpoint(taken));
  } catch (const boost::system::system_error& failure) {
    CHECK(failure.code() == boost::asio::error::address_in_use);
    CHECK(std::string(failure.what()).find("cannot bind " + http::format_endpoint(taken)) != std::string::npos);
  }
}

TEST_CASE("IPv6: a server on [::1] answers, when the host has IPv6 loopback") {
  boost::asio::io_context probe_io;
  tcp::acceptor probe(probe_io);
  boost::system::error_code ec;
  probe.open(tcp::v6(), ec);
  if (!ec) probe.bind({boost::asio::ip::address_v6::loopback(), 0}, ec);
  if (ec) {
    MESSAGE("skipped: this host has no IPv6 loopback ([::1] cannot be bound: " << ec.message() << ")");
    return;
  }
  probe.close();
  TestServer server(metrics_routes(), {}, std::nullopt, {boost::asio::ip::address_v6::loopback(), 0});
  CHECK(server.endpoint().address().is_v6());
  CHECK(http::format_endpoint(server.endpoint()).rfind("[::1]:", 0) == 0);
  const auto reply = get(server.endpoint(), "/metrics");
  CHECK(reply.status == 200);
  CHECK(reply.body == "up 1\n");
}
