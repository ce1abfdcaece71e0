#include "host-agent/transport/vsock_listener.hpp"

#include <linux/vm_sockets.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <array>
#include <cstring>

#include "util/asio_nothrow.hpp"
#include "util/log.hpp"
#include "util/log_exceptions.hpp"

namespace perfkvm::host {

namespace asio = boost::asio;

namespace {

using perfkvm::use_nothrow;

void close_now(ChannelSocket& socket) {
  boost::system::error_code ignored;
  socket.shutdown(ChannelSocket::shutdown_both, ignored);
  socket.close(ignored);
}

}  // namespace

StreamListener::Acceptor StreamListener::open_vsock(asio::any_io_executor executor,
                                                   std::uint32_t port) {
  sockaddr_vm address{};
  address.svm_family = AF_VSOCK;
  address.svm_cid = VMADDR_CID_ANY;
  address.svm_port = port;
  const asio::generic::stream_protocol::endpoint endpoint(&address, sizeof address, 0);
  Acceptor acceptor(executor);
  acceptor.open(asio::generic::stream_protocol(AF_VSOCK, 0));
  acceptor.bind(endpoint);
  acceptor.listen();
  return acceptor;
}

std::optional<std::uint32_t> StreamListener::vsock_peer_cid(const ChannelSocket& socket) {
  boost::system::error_code ec;
  const auto peer = socket.remote_endpoint(ec);
  if (ec || peer.size() < sizeof(sockaddr_vm) || peer.data()->sa_family != AF_VSOCK) {
    return std::nullopt;
  }
  sockaddr_vm address;
  std::memcpy(&address, peer.data(), sizeof address);
  return address.svm_cid;
}

StreamListener::StreamListener(Acceptor acceptor, PeerCid peer_cid, FindDomain find_domain,
                               const SessionConfig& config,
                               const std::vector<protocol::EventStatus>& event_table)
    : acceptor_(std::move(acceptor)),
      peer_cid_(std::move(peer_cid)),
      find_domain_(std::move(find_domain)),
      config_(config),
      event_table_(event_table) {}

void StreamListener::start() {
  asio::co_spawn(acceptor_.get_executor(), [self = shared_from_this()] { return self->accept_loop(); },
                 log_exceptions("vsock listener"));
}

void StreamListener::stop() {
  stopped_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  for (const auto& connection : connections()) connection->close();
  for (const auto& weak : pending_) {
    if (const auto socket = weak.lock()) close_now(*socket);
  }
}

void StreamListener::close_domain(const DomainContext& domain) {
  for (const auto& connection : connections()) {
    if (&connection->domain() == &domain) connection->close();
  }
}

std::vector<std::shared_ptr<ChannelConnection>> StreamListener::connections() const {
  std::vector<std::shared_ptr<ChannelConnection>> live;
  for (const auto& weak : connections_) {
    if (auto connection = weak.lock()) live.push_back(std::move(connection));
  }
  return live;
}

asio::awaitable<void> StreamListener::accept_loop() {
  while (!stopped_) {
    auto [ec, socket] = co_await acceptor_.async_accept(use_nothrow);
    if (stopped_) break;
    if (ec) {
      // EMFILE and friends: log, pause, go on; a listener must not die of one bad accept.
      log::warning("vsock: accept failed: " + ec.message());
      asio::steady_timer pause(acceptor_.get_executor(), std::chrono::milliseconds(100));
      co_await pause.async_wait(use_nothrow);
      continue;
    }
    asio::co_spawn(acceptor_.get_executor(),
                   [self = shared_from_this(), s = std::move(socket)]() mutable {
                     return self->serve(std::move(s));
                   },
                   log_exceptions("vsock connection"));
  }
}

namespace {

// The nonce of the first frame a refused peer sends, so that the refusal is addressed to it;
// empty if none comes before `deadline` fires.
asio::awaitable<std::string> first_nonce(ChannelSocket& socket, asio::steady_timer& deadline) {
  using namespace asio::experimental::awaitable_operators;
  protocol::FrameDecoder decoder(64 * 1024);
  std::array<char, 4096> buffer;
  for (;;) {
    auto outcome = co_await (socket.async_read_some(asio::buffer(buffer), use_nothrow) ||
                             deadline.async_wait(use_nothrow));
    if (outcome.index() != 0) co_return std::string();
    auto [ec, n] = std::get<0>(outcome);
    if (ec) co_return std::string();
    std::string_view input(buffer.data(), n);
    if (auto payload = decoder.next(input)) {
      const auto parsed = protocol::parse_message(*payload);
      if (const auto* message = std::get_if<protocol::Message>(&parsed)) {
        co_return protocol::nonce_of(*message);
      }
      co_return std::get<protocol::ParseError>(parsed).nonce;
    }
  }
}

constexpr std::uint32_t kNoCid = VMADDR_CID_ANY;  // a peer whose CID could not be read

}  // namespace

// This connection's place in per_cid_, given back however serve() ends.
class StreamListener::CidShare {
 public:
  CidShare(std::map<std::uint32_t, std::size_t>& counts, std::uint32_t cid)
      : counts_(counts), cid_(cid) {
    ++counts_[cid_];
  }
  ~CidShare() {
    if (--counts_[cid_] == 0) counts_.erase(cid_);
  }
  CidShare(const CidShare&) = delete;
  CidShare& operator=(const CidShare&) = delete;
  std::size_t count() const { return counts_.at(cid_); }

 private:
  std::map<std::uint32_t, std::size_t>& counts_;
  std::uint32_t cid_;
};

asio::awaitable<void> StreamListener::refuse(std::shared_ptr<ChannelSocket> socket,
                                             protocol::ErrorCode code, std::string message) {
  using namespace asio::experimental::awaitable_operators;
  std::erase_if(pending_, [](const auto& weak) { return weak.expired(); });
  pending_.push_back(socket);
  // One deadline for both: a peer that sends nothing, or never reads, is cut off in time.
  asio::steady_timer deadline(socket->get_executor(), kRefusalDeadline);
  const std::string nonce = co_await first_nonce(*socket, deadline);
  const std::string frame = protocol::encode_message(
      protocol::Error{nonce, std::nullopt, code, std::move(message), std::nullopt});
  co_await (asio::async_write(*socket, asio::buffer(frame), use_nothrow) ||
            deadline.async_wait(use_nothrow));
  close_now(*socket);
}

asio::awaitable<void> StreamListener::serve(ChannelSocket accepted) {
  auto socket = std::make_shared<ChannelSocket>(std::move(accepted));
  const auto cid = peer_cid_(*socket);
  const std::string who = cid ? "CID " + std::to_string(*cid) : "a peer without a CID";
  // Counted before anything costs: a guest connecting in a loop spends an accept and a close.
  const CidShare share(per_cid_, cid.value_or(kNoCid));
  std::erase_if(pending_, [](const auto& weak) { return weak.expired(); });
  // A guest may hold a few connections (a session each, plus one being replaced); more than
  // that only takes file descriptors from every other guest.
  const std::size_t per_cid_limit = static_cast<std::size_t>(config_.max_sessions) + 2;
  if (share.count() > per_cid_limit || pending_.size() >= kMaxPending) {
    if (const auto suppressed = refusal_log_.admit()) {
      log::warning("vsock: " + who + " has " + std::to_string(share.count()) +
                   " connections (the most is " + std::to_string(per_cid_limit) + "), " +
                   std::to_string(pending_.size()) +
                   " connections are being refused: closed another at once" + *suppressed);
    }
    close_now(*socket);
    co_return;
  }
  auto domain = cid ? find_domain_(*cid) : nullptr;
  if (!domain) {
    if (const auto suppressed = refusal_log_.admit()) {
      log::warning("vsock: connection from " + who + ", which is no running domain's: refused" +
                   *suppressed);
    }
    co_await refuse(socket, protocol::ErrorCode::unknown_peer,
                    who + " belongs to no running domain this host serves");
    co_return;
  }
  std::erase_if(connections_, [](const auto& weak) { return weak.expired(); });
  const std::string label = "domain '" + domain->name + "' vsock CID " + std::to_string(*cid);
  auto connection = std::make_shared<ChannelConnection>(std::move(*socket), std::move(domain),
                                                        config_, event_table_, label,
                                                        ChannelKind::per_connection);
  connections_.push_back(connection);
  co_await connection->run();
}

}  // namespace perfkvm::host
