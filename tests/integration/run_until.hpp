// Serving an io_context until something has happened, as the integration tests wait for hostd.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>

namespace perfkvm::test {

// Runs the io_context until `done` or `timeout`; returns done().
inline bool run_until(boost::asio::io_context& io, const std::function<bool()>& done,
                      std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    io.run_for(std::chrono::milliseconds(10));
  }
  return done();
}

}  // namespace perfkvm::test
