// A completion handler for co_spawn that logs an exception escaping a coroutine instead of
// dropping it silently (asio::detached) or terminating the daemon.
#pragma once

#include <exception>
#include <string>

#include "util/log.hpp"

namespace perfkvm {

inline auto log_exceptions(std::string what) {
  return [what = std::move(what)](std::exception_ptr failure) {
    if (!failure) return;
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& error) {
      log::error(what + " failed: " + error.what());
    } catch (...) {
      log::error(what + " failed with an unknown exception");
    }
  };
}

}  // namespace perfkvm
