#include "guest-agent/nonce.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "guest-agent/diagnostics.hpp"
#include "util/unique_fd.hpp"

namespace perfkvm::guest {

namespace {

// Kernels before 3.17 have no getrandom(2); a static perfkvm may be copied into one.
bool read_urandom(const char* path, std::array<std::uint8_t, 8>& bytes) {
  UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
  return fd && ::read(fd.get(), bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size());
}

}  // namespace

const RandomSource kSystemRandom{::getrandom, "/dev/urandom"};

std::string random_nonce(const RandomSource& source) {
  std::array<std::uint8_t, 8> bytes{};
  ssize_t got = -1;
  do {
    // Blocking is wanted: a guest that just booted may need a moment for entropy.
    got = source.getrandom(bytes.data(), bytes.size(), 0);
  } while (got < 0 && errno == EINTR);
  if (got != static_cast<ssize_t>(bytes.size()) && !read_urandom(source.urandom_path, bytes)) {
    throw GuestError(std::string("cannot get random bytes for the session nonce: ") +
                     std::strerror(errno));
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string nonce;
  for (const auto byte : bytes) {
    nonce += kHex[byte >> 4];
    nonce += kHex[byte & 0xF];
  }
  return nonce;
}

}  // namespace perfkvm::guest
