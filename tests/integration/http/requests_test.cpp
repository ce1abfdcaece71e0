// What the server answers to well-formed requests: a route's 200 (GET and HEAD), 404, 405,
// the query string, keep-alive and Connection: close, a route that throws.
#include <doctest/doctest.h>

#include <atomic>
#include <stdexcept>

#include "test_server.hpp"

using namespace perfkvm::test;
using namespace std::chrono_literals;

namespace {

const std::string kBody = "# TYPE perfkvm_up gauge\nperfkvm_up 1\n";
const std::string kContentType = "text/plain; version=0.0.4; charset=utf-8";

http::Route fixed(std::string body, std::string content_type = kContentType) {
  return [body = std::move(body), content_type = std::move(content_type)](const http::Request&) {
    return http::Response{content_type, body};
  };
}

std::map<std::string, http::Route> metrics_routes() { return {{"/metrics", fixed(kBody)}}; }

}  // namespace

TEST_CASE("GET of a route: 200 with the route's body and content type") {
  TestServer server({{"/metrics", fixed(kBody)}, {"/", fixed("<html></html>", "text/html")}});
  const auto reply = get(server.endpoint(), "/metrics");
  CHECK(reply.status == 200);
  CHECK(reply.body == kBody);
  CHECK(reply.header("Content-Type") == kContentType);
  CHECK(reply.header("Content-Length") == std::to_string(kBody.size()));
  CHECK(reply.header("Server") == "perfkvm-hostd");
  CHECK_FALSE(reply.header("Content-Encoding"));
  const auto index = get(server.endpoint(), "/");
  CHECK(index.status == 200);
  CHECK(index.body == "<html></html>");
  CHECK(index.header("Content-Type") == "text/html");
  CHECK(server.stats().responses_2xx == 2);
}

TEST_CASE("a route sees the target as sent, whether it is HEAD, and the Accept header") {
  std::string seen;  // written on the server's thread, read after the reply came
  TestServer server({{"/metrics", [&seen](const http::Request& request) {
                        seen = std::string(request.target) + "|" + (request.head ? "HEAD" : "GET") +
                               "|" + std::string(request.accept);
                        return http::Response{"text/plain", "x"};
                      }}});
  get(server.endpoint(), "/metrics?name=up", "Accept: application/openmetrics-text; version=1.0.0\r\n");
  CHECK(server.on_server([&](auto&) { return seen; }) ==
        "/metrics?name=up|GET|application/openmetrics-text; version=1.0.0");
  const auto connection = connect_plain(server.endpoint());
  REQUIRE(connection->send(request("HEAD", "/metrics", "Accept: text/plain\r\nAccept: */*\r\n")));
  reply_on(*connection, true);
  CHECK(server.on_server([&](auto&) { return seen; }) == "/metrics|HEAD|text/plain, */*");
}

TEST_CASE("HEAD of a route: the GET's headers, Content-Length included, and no body") {
  TestServer server(metrics_routes());
  const auto connection = connect_plain(server.endpoint());
  REQUIRE(connection->send(request("HEAD", "/metrics", "Connection: close\r\n")));
  const auto reply = reply_on(*connection, true);
  CHECK(reply.status == 200);
  CHECK(reply.header("Content-Length") == std::to_string(kBody.size()));
  CHECK(reply.header("Content-Type") == kContentType);
  CHECK(reply.header("Server") == "perfkvm-hostd");
  CHECK(connection->rest_until_closed() == "");  // not one byte of body
}

TEST_CASE("an unknown path is 404; the path is matched exactly") {
  std::atomic<int> calls = 0;
  TestServer server({{"/metrics", [&calls](const http::Request&) {
                        ++calls;
                        return http::Response{"text/plain", "x"};
                      }}});
  for (const auto* target : {"/nothing", "/", "/metrics/", "/METRICS", "/metrics.txt", "//metrics",
                             "http://127.0.0.1/metrics", "*"}) {
    INFO("target: " << target);
    const auto reply = get(server.endpoint(), target);
    CHECK(reply.status == 404);
    CHECK(reply.header("Server") == "perfkvm-hostd");
  }
  CHECK(calls == 0);
  CHECK(server.stats().responses_4xx == 8);
}

TEST_CASE("another method than GET or HEAD is 405 with Allow: GET, HEAD") {
  std::atomic<int> calls = 0;
  TestServer server({{"/metrics", [&calls](const http::Request&) {
                        ++calls;
                        return http::Response{"text/plain", "x"};
                      }}});
  for (const auto* method : {"POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "FOO"}) {
    INFO("method: " << method);
    const auto connection = connect_plain(server.endpoint());
    REQUIRE(connection->send(request(method, "/metrics", "Content-Length: 0\r\n")));
    const auto reply = reply_on(*connection);
    CHECK(reply.status == 405);
    CHECK(reply.header("Allow") == "GET, HEAD");
    CHECK(reply.header("Server") == "perfkvm-hostd");
  }
  CHECK(calls == 0);
}

TEST_CASE("the query string is ignored in matching a route") {
  TestServer server(metrics_routes());
  for (const auto* target : {"/metrics?", "/metrics?x=1", "/metrics?name[]=up&match=%7B%7D", "/metrics??"}) {
    INFO("target: " << target);
    const auto reply = get(server.endpoint(), target);
    CHECK(reply.status == 200);
    CHECK(reply.body == kBody);
  }
  CHECK(get(server.endpoint(), "/other?/metrics").status == 404);
}

TEST_CASE("keep-alive: requests one after another, and pipelined, on one connection") {
  TestServer server(metrics_routes());
  const auto connection = connect_plain(server.endpoint());
  for (int i = 0; i < 3; ++i) {
    REQUIRE(connection->send(request("GET", "/metrics")));
    const auto reply = reply_on(*connection);
    CHECK(reply.status == 200);
    CHECK(reply.body == kBody);
    CHECK(reply.header("Connection") != "close");
  }
  // Three requests in one write: three answers, in order.
  REQUIRE(connection->send(request("GET", "/metrics") + request("GET", "/nothing") +
                           request("HEAD", "/metrics")));
  CHECK(reply_on(*connection).status == 200);
  CHECK(reply_on(*connection).status == 404);
  CHECK(reply_on(*connection, true).status == 200);
  CHECK(server.connection_count() == 1);
  CHECK(server.stats().connections_accepted == 1);
}

TEST_CASE("Connection: close is honoured, and HTTP/1.0 closes unless it asks for keep-alive") {
  TestServer server(metrics_routes());
  {
    const auto connection = connect_plain(server.endpoint());
    REQUIRE(connection->send(request("GET", "/metrics", "Connection: close\r\n")));
    const auto reply = reply_on(*connection);
    CHECK(reply.status == 200);
    CHECK(reply.header("Connection") == "close");
    CHECK(connection->rest_until_closed(2s) == "");
  }
  {
    const auto connection = connect_plain(server.endpoint());
    REQUIRE(connection->send("GET /metrics HTTP/1.0\r\n\r\n"));
    CHECK(reply_on(*connection).status == 200);
    CHECK(connection->rest_until_closed(2s) == "");
  }
  {
    const auto connection = connect_plain(server.endpoint());
    REQUIRE(connection->send("GET /metrics HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    CHECK(reply_on(*connection).header("Connection") == "keep-alive");
    REQUIRE(connection->send("GET /metrics HTTP/1.0\r\n\r\n"));
    CHECK(reply_on(*connection).status == 200);
  }
  CHECK(server.wait_until([](auto& s) { return s.connection_count() == 0; }));
}

TEST_CASE("a route that throws is answered 500, and the next request is served") {
  TestServer server({{"/metrics", fixed(kBody)},
                     {"/broken", [](const http::Request&) -> http::Response {
                        throw std::runtime_error("the exposition failed");
                      }},
                     {"/weird", [](const http::Request&) -> http::Response { throw 42; }}});
  const auto connection = connect_plain(server.endpoint());
  REQUIRE(connection->send(request("GET", "/broken")));
  const auto failed = reply_on(*connection);
  CHECK(failed.status == 500);
  CHECK(failed.header("Server") == "perfkvm-hostd");
  REQUIRE(connection->send(request("GET", "/metrics")));  // the same connection goes on
  const auto next = reply_on(*connection);
  CHECK(next.status == 200);
  CHECK(next.body == kBody);
  CHECK(get(server.endpoint(), "/weird").status == 500);
  CHECK(get(server.endpoint(), "/metrics").status == 200);
  const auto stats = server.stats();
  CHECK(stats.route_failures == 2);
  CHECK(stats.responses_5xx == 2);
  CHECK(stats.responses_2xx == 2);
}
