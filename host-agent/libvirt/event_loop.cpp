#include "host-agent/libvirt/event_loop.hpp"

#include <fcntl.h>
#include <libvirt/libvirt.h>
#include <poll.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <chrono>
#include <climits>
#include <deque>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "util/unique_fd.hpp"

namespace perfkvm::host {
namespace asio = boost::asio;
using boost::system::error_code;

namespace {

struct FreeCall {
  virFreeCallback ff;
  void* opaque;
};
using FreeQueue = std::deque<FreeCall>;

// A free callback may re-enter the loop (remove another watch), which may queue more.
void run_free_calls(FreeQueue& queue) {
  while (!queue.empty()) {
    const FreeCall call = queue.front();
    queue.pop_front();
    call.ff(call.opaque);
  }
}

// Ids outlive loops: a remove that libvirt sends after its loop is gone must never match a
// registration of the next loop.
int next_watch_id = 1;
int next_timeout_id = 1;

int take_id(int& next) { return next == INT_MAX ? -1 : next++; }

}  // namespace

namespace detail {

struct Watch : std::enable_shared_from_this<Watch> {
  explicit Watch(asio::io_context& io) : descriptor(io) {}
  ~Watch() { forget_fd(); }
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;

  // libvirt owns the fd and may close it as soon as remove returns: stop watching it now.
  void forget_fd() {
    if (descriptor.is_open()) descriptor.release();
    duplicate.reset();
  }

  EventLoopState* loop = nullptr;
  int id = 0;
  int fd = -1;
  int events = 0;
  virEventHandleCallback cb = nullptr;
  void* opaque = nullptr;
  virFreeCallback ff = nullptr;
  UniqueFd duplicate;  // set when fd is already watched by another watch
  asio::posix::stream_descriptor descriptor;  // never owns its fd: released, not closed
  unsigned generation = 0;  // bumped on every (re)arm; stale completions are ignored
  bool armed = false;
  bool removed = false;
};

struct Timeout : std::enable_shared_from_this<Timeout> {
  explicit Timeout(asio::io_context& io) : timer(io) {}

  EventLoopState* loop = nullptr;
  int id = 0;
  int frequency = -1;
  virEventTimeoutCallback cb = nullptr;
  void* opaque = nullptr;
  virFreeCallback ff = nullptr;
  asio::steady_timer timer;
  unsigned generation = 0;
  bool removed = false;
};

class EventLoopState {
 public:
  explicit EventLoopState(asio::io_context& io) : io_(io) {}
  ~EventLoopState();
  EventLoopState(const EventLoopState&) = delete;
  EventLoopState& operator=(const EventLoopState&) = delete;

  bool on_owner_thread() const { return std::this_thread::get_id() == owner_; }
  void count_refused_call() { refused_calls_.fetch_add(1, std::memory_order_relaxed); }
  LibvirtEventLoop::Stats stats() const;

  int add_handle(int fd, int events, virEventHandleCallback cb, void* opaque,
                 virFreeCallback ff);
  void update_handle(int id, int events);
  int remove_handle(int id);
  int add_timeout(int frequency, virEventTimeoutCallback cb, void* opaque, virFreeCallback ff);
  void update_timeout(int id, int frequency);
  int remove_timeout(int id);

 private:
  void arm(Watch& watch);
  void arm(Timeout& timeout);
  static void dispatch(const std::weak_ptr<Watch>& weak, unsigned generation, bool wait_failed);
  static void fire(const std::weak_ptr<Timeout>& weak, unsigned generation);
  void free_later(virFreeCallback ff, void* opaque);

  asio::io_context& io_;
  const std::thread::id owner_ = std::this_thread::get_id();
  std::map<int, std::shared_ptr<Watch>> watches_;
  std::map<int, std::shared_ptr<Timeout>> timeouts_;
  // Shared with the posted drain handlers, which may run after this state is gone.
  std::shared_ptr<FreeQueue> pending_frees_ = std::make_shared<FreeQueue>();
  std::uint64_t handle_callbacks_ = 0;
  std::uint64_t timeout_callbacks_ = 0;
  std::atomic<std::uint64_t> refused_calls_{0};
};

namespace {

// What the fd is ready for right now, in libvirt's terms: Asio's async_wait only says that
// something happened, libvirt wants to know what.
int ready_events(int fd, int wanted) {
  pollfd entry{};
  entry.fd = fd;
  if (wanted & VIR_EVENT_HANDLE_READABLE) entry.events |= POLLIN;
  if (wanted & VIR_EVENT_HANDLE_WRITABLE) entry.events |= POLLOUT;
  int rc = 0;
  do {
    rc = ::poll(&entry, 1, 0);
  } while (rc < 0 && errno == EINTR);
  if (rc <= 0) return 0;
  int events = 0;
  if (entry.revents & POLLIN) events |= VIR_EVENT_HANDLE_READABLE;
  if (entry.revents & POLLOUT) events |= VIR_EVENT_HANDLE_WRITABLE;
  if (entry.revents & (POLLERR | POLLNVAL)) events |= VIR_EVENT_HANDLE_ERROR;
  if (entry.revents & POLLHUP) events |= VIR_EVENT_HANDLE_HANGUP;
  return events;
}

}  // namespace

EventLoopState::~EventLoopState() {
  // Detached from libvirt already: free callbacks that re-enter the loop get -1.
  FreeQueue still_registered;
  for (auto& [id, watch] : watches_) {
    watch->removed = true;
    watch->forget_fd();
    if (watch->ff) still_registered.push_back({watch->ff, watch->opaque});
  }
  for (auto& [id, timeout] : timeouts_) {
    timeout->removed = true;
    timeout->timer.cancel();
    if (timeout->ff) still_registered.push_back({timeout->ff, timeout->opaque});
  }
  watches_.clear();
  timeouts_.clear();
  run_free_calls(*pending_frees_);  // removed earlier, but the io_context has not run them yet
  run_free_calls(still_registered);
}

LibvirtEventLoop::Stats EventLoopState::stats() const {
  return {watches_.size(), timeouts_.size(), handle_callbacks_, timeout_callbacks_,
          refused_calls_.load(std::memory_order_relaxed)};
}

void EventLoopState::free_later(virFreeCallback ff, void* opaque) {
  if (ff == nullptr) return;
  pending_frees_->push_back({ff, opaque});
  asio::post(io_, [queue = pending_frees_] { run_free_calls(*queue); });
}

int EventLoopState::add_handle(int fd, int events, virEventHandleCallback cb, void* opaque,
                               virFreeCallback ff) {
  if (fd < 0 || cb == nullptr) return -1;
  auto watch = std::make_shared<Watch>(io_);
  error_code ec;
  watch->descriptor.assign(fd, ec);
  if (ec == boost::system::errc::file_exists) {
    // epoll keys on (fd, open file): a duplicate is a new key for the same open file.
    watch->duplicate = UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
    if (!watch->duplicate) return -1;
    ec.clear();
    watch->descriptor.assign(watch->duplicate.get(), ec);
  }
  if (ec) return -1;
  const int id = take_id(next_watch_id);
  if (id < 0) return -1;
  watch->loop = this;
  watch->id = id;
  watch->fd = fd;
  watch->events = events;
  watch->cb = cb;
  watch->opaque = opaque;
  watch->ff = ff;
  arm(*watch);
  watches_.emplace(id, std::move(watch));
  return id;
}

void EventLoopState::update_handle(int id, int events) {
  const auto found = watches_.find(id);
  if (found == watches_.end()) return;
  Watch& watch = *found->second;
  if (events == watch.events && watch.armed) return;
  watch.events = events;
  arm(watch);
}

int EventLoopState::remove_handle(int id) {
  const auto found = watches_.find(id);
  if (found == watches_.end()) return -1;
  // A dispatch on the stack (removal from inside the callback) keeps the watch alive.
  const std::shared_ptr<Watch> watch = std::move(found->second);
  watches_.erase(found);
  watch->removed = true;
  watch->armed = false;
  ++watch->generation;
  watch->forget_fd();
  free_later(watch->ff, watch->opaque);
  return 0;
}

void EventLoopState::arm(Watch& watch) {
  const unsigned generation = ++watch.generation;
  error_code ignored;
  watch.descriptor.cancel(ignored);
  watch.armed = false;
  if (watch.removed || watch.events == 0) return;
  watch.armed = true;
  std::weak_ptr<Watch> weak = watch.weak_from_this();
  // async_wait completes at once if the fd is ready already, so this stays level-triggered.
  auto on_wait = [weak, generation](const error_code& ec) {
    if (ec == asio::error::operation_aborted) return;
    dispatch(weak, generation, static_cast<bool>(ec));
  };
  using asio::posix::descriptor_base;
  if (watch.events & VIR_EVENT_HANDLE_READABLE) {
    watch.descriptor.async_wait(descriptor_base::wait_read, on_wait);
  }
  if (watch.events & VIR_EVENT_HANDLE_WRITABLE) {
    watch.descriptor.async_wait(descriptor_base::wait_write, on_wait);
  }
  if (!(watch.events & (VIR_EVENT_HANDLE_READABLE | VIR_EVENT_HANDLE_WRITABLE))) {
    // Only ERROR/HANGUP wanted: the reactor completes every wait on EPOLLERR/EPOLLHUP. (This
    // wait also ends on urgent data, which libvirt's sockets never carry.)
    watch.descriptor.async_wait(descriptor_base::wait_error, on_wait);
  }
}

void EventLoopState::dispatch(const std::weak_ptr<Watch>& weak, unsigned generation,
                              bool wait_failed) {
  const auto watch = weak.lock();
  if (!watch || watch->removed || watch->generation != generation) return;
  EventLoopState& loop = *watch->loop;
  // One wakeup, one callback: retire the wait for the other direction too.
  ++watch->generation;
  error_code ignored;
  watch->descriptor.cancel(ignored);
  watch->armed = false;

  int events = ready_events(watch->descriptor.native_handle(), watch->events);
  if (events == 0 && wait_failed) events = VIR_EVENT_HANDLE_ERROR;
  if (events != 0) {
    ++loop.handle_callbacks_;
    watch->cb(watch->id, watch->fd, events, watch->opaque);
  }
  // The callback may have removed the watch, or re-armed it through an update.
  if (!watch->removed && !watch->armed) loop.arm(*watch);
}

int EventLoopState::add_timeout(int frequency, virEventTimeoutCallback cb, void* opaque,
                                virFreeCallback ff) {
  if (cb == nullptr) return -1;
  const int id = take_id(next_timeout_id);
  if (id < 0) return -1;
  auto timeout = std::make_shared<Timeout>(io_);
  timeout->loop = this;
  timeout->id = id;
  timeout->frequency = frequency;
  timeout->cb = cb;
  timeout->opaque = opaque;
  timeout->ff = ff;
  arm(*timeout);
  timeouts_.emplace(id, std::move(timeout));
  return id;
}

void EventLoopState::update_timeout(int id, int frequency) {
  const auto found = timeouts_.find(id);
  if (found == timeouts_.end()) return;
  found->second->frequency = frequency;
  arm(*found->second);
}

int EventLoopState::remove_timeout(int id) {
  const auto found = timeouts_.find(id);
  if (found == timeouts_.end()) return -1;
  const std::shared_ptr<Timeout> timeout = std::move(found->second);
  timeouts_.erase(found);
  timeout->removed = true;
  ++timeout->generation;
  timeout->timer.cancel();
  free_later(timeout->ff, timeout->opaque);
  return 0;
}

void EventLoopState::arm(Timeout& timeout) {
  const unsigned generation = ++timeout.generation;
  timeout.timer.cancel();
  if (timeout.removed || timeout.frequency < 0) return;
  std::weak_ptr<Timeout> weak = timeout.weak_from_this();
  if (timeout.frequency == 0) {
    // Posted, not looped: everything already queued on the io_context runs first.
    asio::post(io_, [weak, generation] { fire(weak, generation); });
    return;
  }
  timeout.timer.expires_after(std::chrono::milliseconds(timeout.frequency));
  timeout.timer.async_wait([weak, generation](const error_code& ec) {
    if (!ec) fire(weak, generation);
  });
}

void EventLoopState::fire(const std::weak_ptr<Timeout>& weak, unsigned generation) {
  const auto timeout = weak.lock();
  if (!timeout || timeout->removed || timeout->generation != generation) return;
  EventLoopState& loop = *timeout->loop;
  ++loop.timeout_callbacks_;
  timeout->cb(timeout->id, timeout->opaque);
  // An update from inside the callback has re-armed it already.
  if (!timeout->removed && timeout->generation == generation) loop.arm(*timeout);
}

}  // namespace detail

namespace {

std::atomic<detail::EventLoopState*> active_loop{nullptr};

// The loop this libvirt call may use, or null: none alive, or a call from a foreign thread.
detail::EventLoopState* loop_for_call() {
  detail::EventLoopState* loop = active_loop.load(std::memory_order_acquire);
  if (loop != nullptr && !loop->on_owner_thread()) {
    loop->count_refused_call();
    return nullptr;
  }
  return loop;
}

// The hooks libvirt calls. Nothing may propagate into libvirt's C frames.
int add_handle_hook(int fd, int events, virEventHandleCallback cb, void* opaque,
                    virFreeCallback ff) noexcept {
  try {
    auto* loop = loop_for_call();
    return loop ? loop->add_handle(fd, events, cb, opaque, ff) : -1;
  } catch (...) {
    return -1;
  }
}

void update_handle_hook(int watch, int events) noexcept {
  try {
    if (auto* loop = loop_for_call()) loop->update_handle(watch, events);
  } catch (...) {
  }
}

int remove_handle_hook(int watch) noexcept {
  try {
    auto* loop = loop_for_call();
    return loop ? loop->remove_handle(watch) : -1;
  } catch (...) {
    return -1;
  }
}

int add_timeout_hook(int frequency, virEventTimeoutCallback cb, void* opaque,
                     virFreeCallback ff) noexcept {
  try {
    auto* loop = loop_for_call();
    return loop ? loop->add_timeout(frequency, cb, opaque, ff) : -1;
  } catch (...) {
    return -1;
  }
}

void update_timeout_hook(int timer, int frequency) noexcept {
  try {
    if (auto* loop = loop_for_call()) loop->update_timeout(timer, frequency);
  } catch (...) {
  }
}

int remove_timeout_hook(int timer) noexcept {
  try {
    auto* loop = loop_for_call();
    return loop ? loop->remove_timeout(timer) : -1;
  } catch (...) {
    return -1;
  }
}

}  // namespace

LibvirtEventLoop::LibvirtEventLoop(asio::io_context& io)
    : state_(std::make_unique<detail::EventLoopState>(io)) {
  detail::EventLoopState* none = nullptr;
  if (!active_loop.compare_exchange_strong(none, state_.get(), std::memory_order_acq_rel)) {
    throw std::logic_error(
        "LibvirtEventLoop: another instance is alive; libvirt takes one event loop per process");
  }
  static std::once_flag registered;
  std::call_once(registered, [] {
    virEventRegisterImpl(add_handle_hook, update_handle_hook, remove_handle_hook,
                         add_timeout_hook, update_timeout_hook, remove_timeout_hook);
  });
}

LibvirtEventLoop::~LibvirtEventLoop() { active_loop.store(nullptr, std::memory_order_release); }

LibvirtEventLoop::Stats LibvirtEventLoop::stats() const { return state_->stats(); }

}  // namespace perfkvm::host
