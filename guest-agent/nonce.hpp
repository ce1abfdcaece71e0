// Session nonces (PROTOCOL.md §3.3): fresh random hex for every hello, so that frames of an
// earlier session or an earlier perfkvm, still in flight on the port, can be told apart.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>

namespace perfkvm::guest {

// Where the random bytes come from. A parameter so that a test can make getrandom(2) fail
// as on a kernel before 3.17 and name its own urandom; the real ones are the defaults.
struct RandomSource {
  ssize_t (*getrandom)(void* buffer, std::size_t length, unsigned int flags);
  const char* urandom_path;
};
extern const RandomSource kSystemRandom;  // ::getrandom and /dev/urandom

// 16 lowercase hex digits (64 random bits) from getrandom(2), or from urandom when that
// fails or gives fewer bytes. Throws GuestError if neither gives them.
std::string random_nonce(const RandomSource& source = kSystemRandom);

}  // namespace perfkvm::guest
