// hostd's AF_VSOCK listener. Every accepted connection is a channel whose domain is the one
// the hypervisor gave the peer's CID (looked up in the domains' live XML at accept time);
// an unknown CID gets an unknown-peer error frame and is closed. Nothing the guest says
// decides which domain it is.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "host-agent/session/channel_connection.hpp"
#include "protocol/defaults.hpp"

namespace perfkvm::host {

inline constexpr std::uint32_t kDefaultVsockPort = protocol::kVsockPort;

class StreamListener : public std::enable_shared_from_this<StreamListener> {
 public:
  using Acceptor = boost::asio::basic_socket_acceptor<boost::asio::generic::stream_protocol>;
  // The peer's CID as the kernel reports it for the accepted socket.
  using PeerCid = std::function<std::optional<std::uint32_t>(const ChannelSocket&)>;
  // The running domain that owns a CID, or nullptr.
  using FindDomain = std::function<std::shared_ptr<DomainContext>(std::uint32_t cid)>;

  // A listener on AF_VSOCK, any local CID, `port`. Throws boost::system::system_error with
  // the reason when the host has no vsock (the caller logs it and goes on without vsock).
  static Acceptor open_vsock(boost::asio::any_io_executor executor, std::uint32_t port);
  // getpeername() -> sockaddr_vm.svm_cid.
  static std::optional<std::uint32_t> vsock_peer_cid(const ChannelSocket& socket);

  // Tests pass another acceptor (AF_UNIX) and a PeerCid of their own: everything above the
  // socket layer is the same code.
  StreamListener(Acceptor acceptor, PeerCid peer_cid, FindDomain find_domain,
                 const SessionConfig& config, const std::vector<protocol::EventStatus>& event_table);

  void start();
  void stop();  // stops accepting and closes every connection
  // Closes the connections bound to this domain (it stopped).
  void close_domain(const DomainContext& domain);

  // Live connections (for tests and status).
  std::vector<std::shared_ptr<ChannelConnection>> connections() const;

 private:
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> serve(ChannelSocket socket);

  Acceptor acceptor_;
  PeerCid peer_cid_;
  FindDomain find_domain_;
  const SessionConfig& config_;
  const std::vector<protocol::EventStatus>& event_table_;
  std::vector<std::weak_ptr<ChannelConnection>> connections_;
  bool stopped_ = false;
};

}  // namespace perfkvm::host
