#include "host-agent/inventory/libvirt_monitor.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <set>

#include "host-agent/policy/policy_xml.hpp"
#include "util/asio_nothrow.hpp"
#include "util/log.hpp"
#include "util/log_exceptions.hpp"

namespace perfkvm::host {

namespace asio = boost::asio;

namespace {

using perfkvm::use_nothrow;
constexpr std::chrono::milliseconds kFirstRetry{500};
constexpr std::chrono::milliseconds kMaxRetry{30'000};
// An unknown vsock CID re-lists libvirt's domains at most this often: any process on the
// host or in any guest can connect, and must not make hostd flood libvirtd.
constexpr std::chrono::milliseconds kMinRediscovery{1'000};

std::string uuid_of(virDomainPtr domain) {
  char uuid[VIR_UUID_STRING_BUFLEN] = {};
  return virDomainGetUUIDString(domain, uuid) == 0 ? std::string(uuid) : std::string();
}

const char* close_reason(int reason) {
  switch (reason) {
    case VIR_CONNECT_CLOSE_REASON_ERROR: return "I/O error";
    case VIR_CONNECT_CLOSE_REASON_EOF: return "libvirtd closed the connection";
    case VIR_CONNECT_CLOSE_REASON_KEEPALIVE: return "keepalive timeout";
    default: return "closed by the client";
  }
}

}  // namespace

LibvirtMonitor::LibvirtMonitor(asio::any_io_executor executor, std::string uri,
                               std::string channel_name, DomainRegistry& registry)
    : executor_(std::move(executor)),
      uri_(std::move(uri)),
      channel_name_(std::move(channel_name)),
      registry_(registry),
      wake_(executor_) {
  // Idempotent; without it libvirt 9.0 aborts in its first error-handling call.
  virInitialize();
}

LibvirtMonitor::~LibvirtMonitor() { disconnect(); }

void LibvirtMonitor::start() {
  asio::co_spawn(executor_, run(), log_exceptions("libvirt monitor"));
}

void LibvirtMonitor::stop() {
  stopped_ = true;
  wake_.cancel();
}

asio::awaitable<void> LibvirtMonitor::run() {
  auto retry = kFirstRetry;
  while (!stopped_) {
    if (!connection_) {
      if (!connect()) {
        wake_.expires_after(retry);
        co_await wake_.async_wait(use_nothrow);
        retry = std::min(retry * 2, kMaxRetry);
        continue;
      }
      retry = kFirstRetry;
    }
    // libvirt may call on_close() synchronously inside a failing call (even within connect()),
    // before anyone waits: look at lost_ before and after waiting.
    if (!lost_ && virConnectIsAlive(connection_.get()) == 1) {
      wake_.expires_at(std::chrono::steady_clock::time_point::max());
      co_await wake_.async_wait(use_nothrow);  // on_close() or stop() wakes us
    } else if (!lost_) {
      log::warning("the connection to libvirt is dead: reconnecting");
      lost_ = true;
    }
    if (lost_) {
      lost_ = false;
      disconnect();
    }
  }
  disconnect();
}

bool LibvirtMonitor::connect() {
  virResetLastError();
  ConnectPtr connection(virConnectOpenReadOnly(uri_.c_str()));
  if (!connection) {
    log::warning("cannot connect to libvirt at " + uri_ + ": " + libvirt_error() +
                 " (retrying; hostd needs read access to libvirt)");
    return false;
  }
  connection_ = std::move(connection);
  ++connects_;
  // Keepalives notice a dead libvirtd even while nothing else is sent (not all drivers
  // support them: the test driver does not, and that is fine).
  virConnectSetKeepAlive(connection_.get(), 5, 3);
  if (virConnectRegisterCloseCallback(connection_.get(), &LibvirtMonitor::on_close, this,
                                      nullptr) != 0) {
    log::warning("libvirt will not tell when the connection closes (" + libvirt_error() +
                 "): a dead libvirtd is noticed by keepalive only");
  }
  callbacks_.push_back(virConnectDomainEventRegisterAny(
      connection_.get(), nullptr, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
      VIR_DOMAIN_EVENT_CALLBACK(&LibvirtMonitor::on_lifecycle), this, nullptr));
  if (callbacks_.back() < 0) {
    log::error("cannot follow domains starting and stopping: " + libvirt_error());
  }
  for (const int id : {VIR_DOMAIN_EVENT_ID_DEVICE_ADDED, VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED}) {
    callbacks_.push_back(virConnectDomainEventRegisterAny(
        connection_.get(), nullptr, id, VIR_DOMAIN_EVENT_CALLBACK(&LibvirtMonitor::on_device),
        this, nullptr));
    if (callbacks_.back() < 0) {
      log::warning("cannot follow hot-plugged devices: " + libvirt_error());
    }
  }
  // Policy changes apply at once (virsh metadata, perfkvm-host policy set --live).
  callbacks_.push_back(virConnectDomainEventRegisterAny(
      connection_.get(), nullptr, VIR_DOMAIN_EVENT_ID_METADATA_CHANGE,
      VIR_DOMAIN_EVENT_CALLBACK(&LibvirtMonitor::on_metadata), this, nullptr));
  if (callbacks_.back() < 0) {
    log::warning("cannot follow changes of the domains' perfkvm policy: " + libvirt_error() +
                 " (a changed policy applies when the domain is next looked up)");
  }
  log::info("connected to libvirt at " + uri_);
  discover();
  return true;
}

void LibvirtMonitor::disconnect() {
  confirmed_.clear();  // what the lost connection confirmed is not known any more
  if (!connection_) return;
  for (const int id : callbacks_) {
    if (id >= 0) virConnectDomainEventDeregisterAny(connection_.get(), id);
  }
  callbacks_.clear();
  virConnectUnregisterCloseCallback(connection_.get(), &LibvirtMonitor::on_close);
  connection_.reset();
}

std::shared_ptr<DomainContext> LibvirtMonitor::domain_for_cid(std::uint32_t cid) {
  // While libvirt is unreachable (or its connection is known lost but not yet replaced) a CID
  // may have moved to another domain: serve nobody.
  if (!connection_ || lost_) return nullptr;
  const auto now = std::chrono::steady_clock::now();
  const auto known = registry_.find_by_cid(cid);
  if (known) {
    if (const auto it = confirmed_.find(cid); it != confirmed_.end() &&
                                              it->second.uuid == known->uuid &&
                                              now - it->second.at < kCidConfirmation) {
      return known;
    }
    if (!confirm(known->uuid, cid)) {
      confirmed_.erase(cid);
      return nullptr;
    }
  } else {
    // A domain whose start event has not arrived yet: a listing that works confirms what it
    // finds (each domain's live XML read in it), at most once per kMinRediscovery.
    if (now - last_discovery_ < kMinRediscovery || !discover()) return nullptr;
  }
  const auto found = connection_ && !lost_ ? registry_.find_by_cid(cid) : nullptr;
  if (found) confirmed_[cid] = {found->uuid, now};
  return found;
}

bool LibvirtMonitor::confirm(const std::string& uuid, std::uint32_t cid) {
  virResetLastError();
  DomainPtr domain(virDomainLookupByUUIDString(connection_.get(), uuid.c_str()));
  if (!domain) {
    if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN) registry_.domain_stopped(uuid);
    return false;
  }
  const int active = virDomainIsActive(domain.get());
  if (active == 0) registry_.domain_stopped(uuid);
  if (active != 1 || !refresh(domain.get())) return false;
  const auto* entry = registry_.find(uuid);
  return entry != nullptr && entry->info.vsock_cid == cid;
}

bool LibvirtMonitor::discover() {
  last_discovery_ = std::chrono::steady_clock::now();
  virDomainPtr* domains = nullptr;
  const int count =
      list_domains_(connection_.get(), &domains, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
  if (count < 0) {
    // Nothing is known then, not "nothing runs": the domains served stay served.
    log::warning("cannot list libvirt's domains: " + libvirt_error());
    return false;
  }
  std::set<std::string> running;
  for (int i = 0; i < count; ++i) {
    DomainPtr domain(domains[i]);
    running.insert(uuid_of(domain.get()));
    refresh(domain.get());
  }
  free(domains);  // NOLINT: allocated by libvirt
  registry_.retain_only(running);
  return true;
}

void LibvirtMonitor::refresh(const std::string& uuid) {
  if (!connection_) return;
  // Only libvirt's own word that the domain is gone or inactive stops serving it: a failing
  // call (libvirtd restarting) must not cost a running guest its session.
  virResetLastError();
  DomainPtr domain(virDomainLookupByUUIDString(connection_.get(), uuid.c_str()));
  if (!domain) {
    if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN) {
      registry_.domain_stopped(uuid);
    } else {
      log::warning("cannot look domain " + uuid + " up: " + libvirt_error() +
                   " (it stays served until libvirt answers)");
    }
    return;
  }
  const int active = virDomainIsActive(domain.get());
  if (active == 1) {
    refresh(domain.get());
  } else if (active == 0) {
    registry_.domain_stopped(uuid);
  }
}

bool LibvirtMonitor::refresh(virDomainPtr domain) {
  LibvirtString xml(virDomainGetXMLDesc(domain, 0));
  if (!xml) {
    log::warning("domain '" + std::string(virDomainGetName(domain)) +
                 "': cannot read its XML: " + libvirt_error());
    return false;
  }
  try {
    const DomainXmlInfo info = parse_domain_xml(xml.get(), channel_name_);
    registry_.domain_running(info, read_domain_policy(xml.get()));
    // Read at every refresh, so that a domain found paused (discovery, a missed event) holds
    // its sessions' leases too. A state libvirt cannot tell leaves the one known.
    int state = VIR_DOMAIN_NOSTATE;
    int reason = 0;
    if (virDomainGetState(domain, &state, &reason, 0) == 0) {
      registry_.domain_paused(info.uuid,
                              state == VIR_DOMAIN_PAUSED || state == VIR_DOMAIN_PMSUSPENDED);
    }
    return true;
  } catch (const std::exception& bad) {
    log::warning("domain '" + std::string(virDomainGetName(domain)) +
                 "': cannot use its XML: " + bad.what());
    return false;
  }
}

// libvirt's callbacks run inside its event dispatch; the work is posted so that it runs on a
// clean stack and may call libvirt freely.
int LibvirtMonitor::on_lifecycle(virConnectPtr, virDomainPtr domain, int event, int, void* self) {
  auto* monitor = static_cast<LibvirtMonitor*>(self);
  const std::string uuid = uuid_of(domain);
  asio::post(monitor->executor_, [monitor, uuid, event] {
    if (monitor->stopped_) return;
    switch (event) {
      case VIR_DOMAIN_EVENT_STOPPED:
        monitor->registry_.domain_stopped(uuid);
        break;
      case VIR_DOMAIN_EVENT_STARTED:
      case VIR_DOMAIN_EVENT_SUSPENDED:  // the state is read again: paused sessions keep leases
      case VIR_DOMAIN_EVENT_PMSUSPENDED:
      case VIR_DOMAIN_EVENT_RESUMED:
      case VIR_DOMAIN_EVENT_DEFINED:
        monitor->refresh(uuid);
        break;
      case VIR_DOMAIN_EVENT_UNDEFINED:
        monitor->refresh(uuid);  // a transient domain's undefine also ends it
        break;
      default:
        break;
    }
  });
  return 0;
}

void LibvirtMonitor::post_refresh(virDomainPtr domain) {
  asio::post(executor_, [this, uuid = uuid_of(domain)] {
    if (!stopped_) refresh(uuid);
  });
}

void LibvirtMonitor::on_device(virConnectPtr, virDomainPtr domain, const char*, void* self) {
  static_cast<LibvirtMonitor*>(self)->post_refresh(domain);
}

void LibvirtMonitor::on_metadata(virConnectPtr, virDomainPtr domain, int type, const char* uri,
                                 void* self) {
  // Titles, descriptions and other applications' elements change nothing here.
  if (type != VIR_DOMAIN_METADATA_ELEMENT || uri == nullptr || uri != kPolicyNamespaceUri) return;
  static_cast<LibvirtMonitor*>(self)->post_refresh(domain);
}

void LibvirtMonitor::on_close(virConnectPtr, int reason, void* self) {
  auto* monitor = static_cast<LibvirtMonitor*>(self);
  log::warning(std::string("lost the connection to libvirt (") + close_reason(reason) +
               "): reconnecting; running domains stay served");
  monitor->lost_ = true;
  monitor->wake_.cancel();
}

}  // namespace perfkvm::host
