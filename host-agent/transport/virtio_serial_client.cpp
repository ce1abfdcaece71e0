#include "host-agent/transport/virtio_serial_client.hpp"

#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "host-agent/transport/channel_peer.hpp"
#include "util/asio_nothrow.hpp"
#include "util/log.hpp"
#include "util/log_exceptions.hpp"

namespace perfkvm::host {

namespace asio = boost::asio;

namespace {

using perfkvm::use_nothrow;
constexpr std::chrono::milliseconds kFirstRetry{50};
constexpr std::chrono::milliseconds kMaxRetry{2000};

}  // namespace

VirtioSerialClient::VirtioSerialClient(asio::any_io_executor executor,
                                       std::shared_ptr<DomainContext> domain,
                                       std::string socket_path, const SessionConfig& config,
                                       const std::vector<protocol::EventStatus>& event_table)
    : domain_(std::move(domain)),
      socket_path_(std::move(socket_path)),
      config_(config),
      event_table_(event_table),
      label_("domain '" + domain_->name + "' virtio-serial " + socket_path_),
      connecting_(executor),
      retry_timer_(executor) {}

void VirtioSerialClient::start() {
  asio::co_spawn(connecting_.get_executor(), [self = shared_from_this()] { return self->run(); },
                 log_exceptions(label_));
}

void VirtioSerialClient::stop() {
  stopped_ = true;
  boost::system::error_code ignored;
  connecting_.close(ignored);
  retry_timer_.cancel();
  if (connection_) connection_->close();
}

std::optional<std::string> VirtioSerialClient::check_peer() {
  const auto peer = peer_credentials(connecting_.native_handle());
  if (!peer) return "the kernel cannot say who serves the socket (SO_PEERCRED failed)";
  // The QEMU pid is looked up only for a listener that is not root's: with libvirt the
  // listener is its daemon, and each connect would otherwise cost a thread resolution.
  std::optional<pid_t> qemu_pid;
  if (peer->uid != 0 && domain_->resolve_threads) {
    try {
      qemu_pid = domain_->resolve_threads().qemu_pid;
    } catch (const std::exception&) {
      // Not located: the check below says so.
    }
  }
  return channel_peer_problem(*peer, qemu_pid);
}

asio::awaitable<void> VirtioSerialClient::run() {
  auto retry = kFirstRetry;
  bool reported_waiting = false;
  while (!stopped_) {
    connecting_ = asio::local::stream_protocol::socket(connecting_.get_executor());
    auto [ec] = co_await connecting_.async_connect(
        asio::local::stream_protocol::endpoint(socket_path_), use_nothrow);
    if (stopped_) break;
    if (ec) {
      // Normal while QEMU starts: the socket appears shortly after the domain starts.
      if (!reported_waiting) {
        log::info(label_ + ": waiting for the channel socket (" + ec.message() + ")");
        reported_waiting = true;
      }
      retry_timer_.expires_after(retry);
      co_await retry_timer_.async_wait(use_nothrow);
      retry = std::min(retry * 2, kMaxRetry);
      continue;
    }
    reported_waiting = false;
    if (const auto problem = check_peer()) {
      // Not served, and not taken as this domain's: dropped, and tried again (the socket may
      // be replaced by the domain's own when its QEMU restarts). Logged when it begins.
      if (!refused_peer_) log::warning(label_ + ": refusing the channel: " + *problem);
      refused_peer_ = true;
      ++refused_peers_;
      boost::system::error_code ignored;
      connecting_.close(ignored);
      retry_timer_.expires_after(retry);
      co_await retry_timer_.async_wait(use_nothrow);
      retry = std::min(retry * 2, kMaxRetry);
      continue;
    }
    refused_peer_ = false;
    retry = kFirstRetry;
    ++connects_;
    ChannelSocket socket(connecting_.get_executor(),
                         asio::generic::stream_protocol(AF_UNIX, 0),
                         connecting_.release());
    connection_ = std::make_shared<ChannelConnection>(std::move(socket), domain_, config_,
                                                      event_table_, label_);
    try {
      co_await connection_->run();
    } catch (const std::exception& failure) {
      log::error(label_ + ": channel failed: " + failure.what() + "; reconnecting");
    }
    connection_.reset();
    if (!stopped_) {
      // QEMU closed its end: it restarted or is going away. Reconnect until told to stop.
      retry_timer_.expires_after(kFirstRetry);
      co_await retry_timer_.async_wait(use_nothrow);
    }
  }
  log::debug(label_ + ": client stopped");
}

}  // namespace perfkvm::host
