#include "host-agent/http/server_state.hpp"

#include <boost/system/system_error.hpp>

#include "host-agent/http/listen_address.hpp"
#include "host-agent/http/tls_context.hpp"

namespace perfkvm::host::http {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

tcp::acceptor open_acceptor(asio::any_io_executor executor, const tcp::endpoint& endpoint) {
  const auto check = [&](const boost::system::error_code& ec, std::string_view step) {
    if (ec) {
      throw boost::system::system_error(
          ec, "HTTP server: cannot " + std::string(step) + " " + format_endpoint(endpoint));
    }
  };
  tcp::acceptor acceptor(executor);
  boost::system::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  check(ec, "open a socket for");
  // A restarted hostd must not wait for its old connections' TIME_WAIT to bind again.
  acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  check(ec, "set SO_REUSEADDR for");
  acceptor.bind(endpoint, ec);
  check(ec, "bind");
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  check(ec, "listen on");
  return acceptor;
}

std::optional<asio::ssl::context> load_tls(const std::optional<TlsFiles>& files) {
  if (!files) return std::nullopt;
  return make_server_tls_context(*files);
}

}  // namespace

ServerState::ServerState(asio::any_io_executor executor, const tcp::endpoint& endpoint,
                         std::map<std::string, Route> served_routes, const ServerLimits& server_limits,
                         const std::optional<TlsFiles>& tls_files)
    : routes(std::move(served_routes)),
      limits(server_limits),
      tls(load_tls(tls_files)),
      acceptor(open_acceptor(std::move(executor), endpoint)),
      local_endpoint(acceptor.local_endpoint()),
      connections(limits.max_connections) {}

}  // namespace perfkvm::host::http
