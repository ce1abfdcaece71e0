// HTTPS with certificates made at test time: a GET over TLS, TLS 1.2 as the floor, mutual
// TLS (no certificate or a stranger's: refused; one the CA signed: 200), the handshake
// within request_timeout, and TLS files that cannot be loaded.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <variant>

#include "certificates.hpp"
#include "test_server.hpp"

using namespace perfkvm::test;
using namespace std::chrono_literals;

namespace {

std::map<std::string, http::Route> metrics_routes() {
  return {{"/metrics", [](const http::Request&) { return http::Response{"text/plain", "up 1\n"}; }}};
}

http::TlsFiles server_files(bool require_client_certificate = false) {
  const auto& made = test_certificates();
  return {made.server_cert, made.server_key, require_client_certificate ? made.ca_cert : std::string()};
}

TlsClient verifying_client() { return {test_certificates().ca_cert, "", "", false}; }

// An HTTPS GET /metrics: the reply, or why the handshake or the exchange failed (OpenSSL's
// errors). A timeout throws: a server that hangs is not one that refuses.
std::variant<HttpReply, std::string> https_get(const Endpoint& endpoint, const TlsClient& client) {
  std::unique_ptr<Connection> connection;
  try {
    connection = connect_tls(endpoint, client);
  } catch (const TimedOut&) {
    throw;
  } catch (const std::runtime_error& refused) {
    return std::string(refused.what());
  }
  if (!connection->send(request("GET", "/metrics", "Connection: close\r\n"))) return connection->failure();
  if (auto reply = connection->read_reply()) return *reply;
  return connection->failure();
}

HttpReply served(const std::variant<HttpReply, std::string>& outcome) {
  if (const auto* failure = std::get_if<std::string>(&outcome)) FAIL("refused: " << *failure);
  return std::get<HttpReply>(outcome);
}

// Why it was refused; fails the test if it was served.
std::string refusal(const std::variant<HttpReply, std::string>& outcome) {
  if (std::holds_alternative<HttpReply>(outcome)) {
    FAIL("served: " << std::get<HttpReply>(outcome).status);
  }
  return std::get<std::string>(outcome);
}

// `make` throws std::runtime_error whose message contains each of `parts`.
template <class Make>
void throws_naming(Make make, std::initializer_list<std::string> parts) {
  try {
    make();
    FAIL("no exception");
  } catch (const std::runtime_error& failure) {
    const std::string message = failure.what();
    INFO("message: " << message);
    for (const auto& part : parts) CHECK(message.find(part) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("TLS: an HTTPS GET works, with a certificate the client verifies") {
  TestServer server(metrics_routes(), {}, server_files());
  const auto reply = served(https_get(server.endpoint(), verifying_client()));
  CHECK(reply.status == 200);
  CHECK(reply.body == "up 1\n");
  CHECK(reply.header("Server") == "perfkvm-hostd");
  // Keep-alive over TLS, and a client certificate nobody asked for is no obstacle.
  const auto& made = test_certificates();
  auto connection = connect_tls(server.endpoint(), {made.ca_cert, made.client_cert, made.client_key, false});
  for (int i = 0; i < 2; ++i) {
    REQUIRE(connection->send(request("GET", "/metrics")));
    CHECK(reply_on(*connection).status == 200);
  }
  CHECK(server.stats().tls_handshake_failures == 0);
}

TEST_CASE("TLS: clients that offer only TLS 1.1 or less, or plain HTTP, are refused") {
  TestServer server(metrics_routes(), {}, server_files());
  auto legacy = verifying_client();
  legacy.legacy_only = true;
  CHECK(refusal(https_get(server.endpoint(), legacy)).find("alert protocol version") != std::string::npos);
  // Plain HTTP on the TLS port: no HTTP answer, just the close.
  const auto plain = connect_plain(server.endpoint());
  plain->send(request("GET", "/metrics"));
  const auto answer = plain->rest_until_closed(3s);
  REQUIRE(answer);
  CHECK(answer->find("HTTP/1.1") == std::string::npos);
  CHECK(server.wait_until([](auto& s) { return s.stats().tls_handshake_failures == 2; }));
  CHECK(served(https_get(server.endpoint(), verifying_client())).status == 200);  // and it goes on
}

TEST_CASE("mutual TLS: a client certificate signed by client_ca is required") {
  TestServer server(metrics_routes(), {}, server_files(true));
  const auto& made = test_certificates();
  const auto none = refusal(https_get(server.endpoint(), verifying_client()));
  CHECK(none.find("alert certificate required") != std::string::npos);
  const auto stranger = refusal(https_get(server.endpoint(), {made.ca_cert, made.stranger_cert, made.stranger_key, false}));
  CHECK(stranger.find("alert unknown ca") != std::string::npos);
  CHECK(server.wait_until([](auto& s) { return s.stats().tls_handshake_failures == 2; }));
  CHECK(server.stats().responses_2xx == 0);
  const auto reply = served(https_get(server.endpoint(), {made.ca_cert, made.client_cert, made.client_key, false}));
  CHECK(reply.status == 200);
  CHECK(reply.body == "up 1\n");
}

TEST_CASE("TLS: the handshake counts toward request_timeout") {
  http::ServerLimits limits;
  limits.request_timeout = 800ms;
  TestServer server(metrics_routes(), limits, server_files());
  const auto start = std::chrono::steady_clock::now();
  const auto silent = connect_plain(server.endpoint());  // connects, never says hello
  CHECK(silent->rest_until_closed(5s));
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(elapsed > 0.6);
  CHECK(elapsed < 2.5);
}

TEST_CASE("TLS files that cannot be loaded: std::runtime_error naming the file") {
  const auto& made = test_certificates();
  boost::asio::io_context io;
  const auto endpoint = loopback_any_port();
  const auto make = [&](http::TlsFiles files) {
    return [&io, &endpoint, files] { http::HttpServer(io.get_executor(), endpoint, {}, {}, files); };
  };
  const std::string garbage = made.dir + "/garbage.pem";
  std::ofstream(garbage) << "this is not a certificate\n";

  throws_naming(make({"/nonexistent/server.crt", made.server_key, ""}),
                {"TLS certificate file '/nonexistent/server.crt'", "No such file or directory"});
  throws_naming(make({made.server_cert, "/nonexistent/server.key", ""}),
                {"TLS key file '/nonexistent/server.key'", "No such file or directory"});
  throws_naming(make({garbage, made.server_key, ""}), {"TLS certificate file '" + garbage + "'", "cannot be loaded"});
  throws_naming(make({made.server_cert, garbage, ""}), {"TLS key file '" + garbage + "'", "cannot be loaded"});
  throws_naming(make({made.server_cert, made.client_key, ""}),
                {"TLS key file '" + made.client_key + "'", "does not match the certificate"});
  throws_naming(make({made.server_cert, made.server_key, "/nonexistent/ca.crt"}),
                {"TLS client CA file '/nonexistent/ca.crt'", "No such file or directory"});
  throws_naming(make({made.server_cert, made.server_key, garbage}), {"TLS client CA file '" + garbage + "'"});
  throws_naming(make({"", "", ""}), {"TLS certificate file: no file given"});
}
