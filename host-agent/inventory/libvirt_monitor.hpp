// Keeps the domain registry in step with libvirt: connects (read-only) to the URI, discovers
// the running domains, follows lifecycle and device events, and when the connection drops
// (libvirtd restarted) reconnects with backoff and re-discovers, while the domains that are
// still running stay served. libvirt's events arrive through LibvirtEventLoop, on the same
// io_context as everything else.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "host-agent/inventory/domain_registry.hpp"
#include "host-agent/libvirt/handles.hpp"

namespace perfkvm::host {

class LibvirtMonitor {
 public:
  LibvirtMonitor(boost::asio::any_io_executor executor, std::string uri, std::string channel_name,
                 DomainRegistry& registry);
  ~LibvirtMonitor();
  LibvirtMonitor(const LibvirtMonitor&) = delete;
  LibvirtMonitor& operator=(const LibvirtMonitor&) = delete;

  void start();
  void stop();

  bool connected() const { return connection_ != nullptr; }
  std::uint64_t connects() const { return connects_; }
  // Looks the domain up again and updates the registry (also used after device events).
  void refresh(const std::string& uuid);
  // The running domain whose vsock CID this is, served only after libvirt confirms it (the
  // domain active, its live XML read and parsed, the same CID) in this call or within
  // kCidConfirmation before; nullptr when libvirt cannot confirm it, for whatever reason
  // (fail closed: a CID may have moved to another domain).
  std::shared_ptr<DomainContext> domain_for_cid(std::uint32_t cid);
  // How long a confirmation is trusted: a guest connecting in a loop costs libvirt one
  // lookup per CID per period, not one per connection.
  static constexpr std::chrono::milliseconds kCidConfirmation{1'000};

  // How the running domains are listed: virConnectListAllDomains. A test seam for a listing
  // that fails, as a libvirtd in trouble's may (the test driver never fails one).
  using ListDomains = int (*)(virConnectPtr, virDomainPtr**, unsigned int);
  void set_list_domains_for_testing(ListDomains list) { list_domains_ = list; }

  // libvirt's close callback (registered by connect(); `self` is the monitor). Public so that
  // tests can play libvirtd going away: the test driver never closes a connection.
  static void on_close(virConnectPtr, int reason, void* self);

 private:
  boost::asio::awaitable<void> run();
  bool connect();
  void disconnect();
  // False if libvirt could not list the domains (nothing is known then).
  bool discover();
  // True if the domain's live XML was read and used.
  bool refresh(virDomainPtr domain);
  // Whether libvirt says now that `uuid` is active with vsock CID `cid`.
  bool confirm(const std::string& uuid, std::uint32_t cid);
  // From inside a libvirt callback: refresh on a clean stack, where libvirt may be called.
  void post_refresh(virDomainPtr domain);

  static int on_lifecycle(virConnectPtr, virDomainPtr domain, int event, int detail, void* self);
  static void on_device(virConnectPtr, virDomainPtr domain, const char* alias, void* self);
  static void on_metadata(virConnectPtr, virDomainPtr domain, int type, const char* uri,
                          void* self);

  boost::asio::any_io_executor executor_;
  ListDomains list_domains_ = virConnectListAllDomains;
  std::string uri_;
  std::string channel_name_;
  DomainRegistry& registry_;
  ConnectPtr connection_;
  std::vector<int> callbacks_;
  boost::asio::steady_timer wake_;
  bool stopped_ = false;
  bool lost_ = false;
  std::uint64_t connects_ = 0;
  std::chrono::steady_clock::time_point last_discovery_{};
  struct Confirmation {
    std::string uuid;
    std::chrono::steady_clock::time_point at;
  };
  std::map<std::uint32_t, Confirmation> confirmed_;  // by CID
};

}  // namespace perfkvm::host
