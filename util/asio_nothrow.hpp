// The completion token of every coroutine in hostd: errors come back as values in a tuple
// (`auto [ec, n] = co_await op(use_nothrow)`), never as exceptions, as in Boost.Asio's C++20
// examples; one definition for every module.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace perfkvm {

inline constexpr auto use_nothrow = boost::asio::as_tuple(boost::asio::use_awaitable);

}  // namespace perfkvm
