// The live connections of one server, and its cap. At the cap a new connection takes the place
// of the one that has waited longest for a request (an idle keep-alive, a slow or silent
// client, a TLS handshake): a flood of idle connections cannot lock a scraper out, and the
// count never exceeds the cap. Only when every connection is busy answering is a new one
// refused.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace perfkvm::host::http {

class HttpConnection;

class ConnectionTable {
 public:
  enum class Room { free, made_by_eviction, none };

  explicit ConnectionTable(std::size_t capacity) : capacity_(capacity) {}

  // Room for one more connection: free below the cap; at the cap, the longest-waiting
  // connection is closed and dropped to make it; none if every connection is answering.
  Room make_room();
  void add(std::shared_ptr<HttpConnection> connection);  // after make_room() found room
  void remove(const HttpConnection& connection);         // no-op if it is not there
  void close_all();
  std::size_t size() const { return connections_.size(); }

 private:
  std::size_t capacity_;
  std::vector<std::shared_ptr<HttpConnection>> connections_;
};

}  // namespace perfkvm::host::http
