// libvirt's event loop, run on perfkvm-hostd's one Boost.Asio io_context.
//
// Why on Asio: libvirt delivers domain lifecycle events, keepalives and the remote driver's
// socket traffic through an event loop the application supplies. The daemon's rule is one
// io_context and no stray threads, so instead of virEventRegisterDefaultImpl() plus a thread
// spinning virEventRunDefaultImpl(), libvirt's fd watches and timeouts become Asio waits on
// that io_context: libvirt's callbacks run between the daemon's other handlers, never
// concurrently with them, and need no locking against them.
//
// Process-wide registration: virEventRegisterImpl() takes six plain function pointers
// without user data, and libvirt ignores every later registration. So the first
// LibvirtEventLoop registers them once, and they forward to whichever LibvirtEventLoop is
// alive. At most one may be alive at a time (constructing a second throws std::logic_error).
// While none is alive, libvirt's calls fail harmlessly (add/remove return -1, update does
// nothing): libvirt may still remove watches after virConnectClose() returned. Ids are never
// reused across loops, so such a late call cannot hit a newer loop's registration.
//
// Rules for the owner:
// - Construct it before the first virConnectOpen*(); keep it alive, and the io_context
//   running, until every connection is closed. The io_context must outlive it.
// - Make every libvirt call on the thread that constructed it, which is the one running the
//   io_context. Calls into the loop from another thread are refused (counted in stats()).
// - Never call virEventRegisterDefaultImpl() in the same process.
//
// Semantics (those of libvirt's own poll and GLib loops):
// - Watches are level-triggered: the callback runs again on the next iteration while the fd
//   stays ready. It gets the events that occurred; ERROR and HANGUP are always reported.
// - Timeouts: -1 disabled, 0 fires once per io_context iteration (posted, so other handlers
//   and I/O still run), N > 0 every N ms. Updating a timeout restarts its period.
// - Free callbacks run from a clean stack after removal (posted to the io_context), never
//   inside remove; those still registered when the loop is destroyed run in its destructor.
// - The same fd may be watched twice (libvirt allows it for disjoint event sets). epoll
//   refuses a second registration of one fd, so the second watch waits on a dup() of it,
//   which keeps that open file alive until the watch is removed.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace perfkvm::host {

namespace detail {
class EventLoopState;
}

class LibvirtEventLoop {
 public:
  struct Stats {
    std::size_t watches = 0;             // fd watches registered now
    std::size_t timeouts = 0;            // timeouts registered now
    std::uint64_t handle_callbacks = 0;  // watch callbacks run so far
    std::uint64_t timeout_callbacks = 0;
    std::uint64_t refused_calls = 0;  // libvirt calls made from a thread other than the owner's
  };

  // Throws std::logic_error while another LibvirtEventLoop is alive.
  explicit LibvirtEventLoop(boost::asio::io_context& io);
  ~LibvirtEventLoop();

  LibvirtEventLoop(const LibvirtEventLoop&) = delete;
  LibvirtEventLoop& operator=(const LibvirtEventLoop&) = delete;
  LibvirtEventLoop(LibvirtEventLoop&&) = delete;
  LibvirtEventLoop& operator=(LibvirtEventLoop&&) = delete;

  Stats stats() const;

 private:
  std::unique_ptr<detail::EventLoopState> state_;
};

}  // namespace perfkvm::host
