// Session nonces (PROTOCOL.md §3.3): fresh random hex for every hello, so that frames of an
// earlier session or an earlier perfkvm, still in flight on the port, can be told apart.
#pragma once

#include <string>

namespace perfkvm::guest {

// 16 lowercase hex digits (64 random bits) from getrandom(2). Throws GuestError if the
// kernel has no randomness to give.
std::string random_nonce();

}  // namespace perfkvm::guest
