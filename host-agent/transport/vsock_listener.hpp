// hostd's AF_VSOCK listener. Every accepted connection is a channel whose domain is the one
// the hypervisor gave the peer's CID (looked up in the domains' live XML at accept time);
// an unknown CID gets an unknown-peer error frame and is closed. Nothing the guest says
// decides which domain it is.
//
// Any guest can connect in a loop, so the limits come before any work: connections are
// counted per CID before the domain is looked up (libvirt calls, an XML parse), and beyond
// max_sessions + 2 per CID, or kMaxPending connections awaiting a refusal in all, a new one is
// closed at once. A refusal has one deadline for the peer's first frame and the answer, and
// stop() closes those connections too.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "host-agent/session/channel_connection.hpp"
#include "protocol/defaults.hpp"
#include "util/log_throttle.hpp"

namespace perfkvm::host {

inline constexpr std::uint32_t kDefaultVsockPort = protocol::kVsockPort;

class StreamListener : public std::enable_shared_from_this<StreamListener> {
 public:
  using Acceptor = boost::asio::basic_socket_acceptor<boost::asio::generic::stream_protocol>;
  // The peer's CID as the kernel reports it for the accepted socket.
  using PeerCid = std::function<std::optional<std::uint32_t>(const ChannelSocket&)>;
  // The running domain that owns a CID, or nullptr.
  using FindDomain = std::function<std::shared_ptr<DomainContext>(std::uint32_t cid)>;

  // Connections being refused at once, over all CIDs: each holds an fd and a coroutine for
  // up to kRefusalDeadline.
  static constexpr std::size_t kMaxPending = 64;
  static constexpr std::chrono::seconds kRefusalDeadline{2};

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
  // Connections being refused now.
  std::size_t pending() const {
    return std::count_if(pending_.begin(), pending_.end(),
                         [](const auto& weak) { return !weak.expired(); });
  }

 private:
  class CidShare;

  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> serve(ChannelSocket socket);
  // Answers `error` (to the first frame's nonce) within kRefusalDeadline, then closes.
  boost::asio::awaitable<void> refuse(std::shared_ptr<ChannelSocket> socket,
                                      protocol::ErrorCode code, std::string message);

  Acceptor acceptor_;
  PeerCid peer_cid_;
  FindDomain find_domain_;
  const SessionConfig& config_;
  const std::vector<protocol::EventStatus>& event_table_;
  std::vector<std::weak_ptr<ChannelConnection>> connections_;
  std::vector<std::weak_ptr<ChannelSocket>> pending_;  // being refused; stop() closes them
  std::map<std::uint32_t, std::size_t> per_cid_;       // open connections by peer CID
  LogThrottle refusal_log_;
  bool stopped_ = false;
};

}  // namespace perfkvm::host
