// Columns for the report tests: Column has more fields than the tests care about.
#pragma once

#include <string>
#include <utility>

#include "protocol/messages.hpp"

namespace perfkvm::test {

inline protocol::Column column(std::string event, protocol::Scope scope = protocol::Scope::all,
                               protocol::ColumnStatus status = protocol::ColumnStatus::counted) {
  protocol::Column result;
  result.event = std::move(event);
  result.scope = scope;
  result.status = status;
  return result;
}

}  // namespace perfkvm::test
