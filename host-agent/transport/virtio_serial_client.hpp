// hostd's side of one domain's virtio-serial channel. QEMU listens on the channel's unix
// socket and serves exactly one client: hostd connects when the domain starts (retrying
// until QEMU has created the socket), serves the protocol on it, and reconnects whenever
// QEMU drops it (QEMU restarted, or migration), until stop(). A socket whose listener is not
// the domain's QEMU nor libvirt's daemon is not served (channel_peer.hpp).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "host-agent/session/channel_connection.hpp"

namespace perfkvm::host {

class VirtioSerialClient : public std::enable_shared_from_this<VirtioSerialClient> {
 public:
  VirtioSerialClient(boost::asio::any_io_executor executor, std::shared_ptr<DomainContext> domain,
                     std::string socket_path, const SessionConfig& config,
                     const std::vector<protocol::EventStatus>& event_table);

  void start();
  // Ends the client: a pending connect or retry is cancelled, the channel closed, and with
  // it the session's counters.
  void stop();

  const std::string& socket_path() const { return socket_path_; }
  // The connection being served, if connected.
  std::shared_ptr<ChannelConnection> connection() const { return connection_; }
  std::uint64_t connects() const { return connects_; }
  // Connections dropped because the socket's listener is not the domain's (channel_peer.hpp).
  std::uint64_t refused_peers() const { return refused_peers_; }

 private:
  boost::asio::awaitable<void> run();
  // Why the socket just connected must not be served as this domain's; nullopt if it may.
  std::optional<std::string> check_peer();

  std::shared_ptr<DomainContext> domain_;
  std::string socket_path_;
  const SessionConfig& config_;
  const std::vector<protocol::EventStatus>& event_table_;
  std::string label_;
  boost::asio::local::stream_protocol::socket connecting_;
  boost::asio::steady_timer retry_timer_;
  std::shared_ptr<ChannelConnection> connection_;
  bool stopped_ = false;
  std::uint64_t connects_ = 0;
  std::uint64_t refused_peers_ = 0;
  bool refused_peer_ = false;  // the last connection was refused: logged once until served
};

}  // namespace perfkvm::host
