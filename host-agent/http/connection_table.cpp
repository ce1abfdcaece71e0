#include "host-agent/http/connection_table.hpp"

#include <algorithm>

#include "host-agent/http/http_connection.hpp"

namespace perfkvm::host::http {

ConnectionTable::Room ConnectionTable::make_room() {
  if (connections_.size() < capacity_) return Room::free;
  auto longest_waiting = connections_.end();
  for (auto it = connections_.begin(); it != connections_.end(); ++it) {
    if (!(*it)->waiting()) continue;
    if (longest_waiting == connections_.end() ||
        (*it)->waiting_since() < (*longest_waiting)->waiting_since()) {
      longest_waiting = it;
    }
  }
  if (longest_waiting == connections_.end()) return Room::none;
  // Dropped from the table now, so the count stays within the cap; its coroutine ends on
  // its own once it sees the socket closed.
  const auto evicted = std::move(*longest_waiting);
  connections_.erase(longest_waiting);
  evicted->close();
  return Room::made_by_eviction;
}

void ConnectionTable::add(std::shared_ptr<HttpConnection> connection) {
  connections_.push_back(std::move(connection));
}

void ConnectionTable::remove(const HttpConnection& connection) {
  std::erase_if(connections_, [&](const auto& entry) { return entry.get() == &connection; });
}

void ConnectionTable::close_all() {
  auto closing = std::move(connections_);
  connections_.clear();
  for (const auto& connection : closing) connection->close();
}

}  // namespace perfkvm::host::http
