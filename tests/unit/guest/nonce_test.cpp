// Session nonces: getrandom(2) first, urandom when the kernel has no getrandom (before 3.17,
// where a static perfkvm may be copied) or it gives fewer bytes than asked for.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "guest-agent/diagnostics.hpp"
#include "guest-agent/nonce.hpp"

using namespace perfkvm::guest;

namespace {

// What the fake getrandom does on each call, in order: give these bytes (as many as asked,
// or fewer), or fail with an errno. Calls past the script fail the test.
struct Step {
  int error = 0;            // nonzero: return -1 with this errno
  std::size_t length = 8;   // bytes given, from 0x10 up
};
std::vector<Step> steps;
std::size_t calls = 0;

ssize_t scripted_getrandom(void* buffer, std::size_t length, unsigned int flags) {
  CHECK(flags == 0);  // blocking: a guest just booted may need a moment for entropy
  REQUIRE(calls < steps.size());
  const Step step = steps[calls++];
  if (step.error != 0) {
    errno = step.error;
    return -1;
  }
  const std::size_t given = std::min(step.length, length);
  for (std::size_t i = 0; i < given; ++i) static_cast<unsigned char*>(buffer)[i] = 0x10 + i;
  return static_cast<ssize_t>(given);
}

// A stand-in for /dev/urandom with known bytes: 0xa0 0xb1 ... 0xf5 0x06 0x17 0x28 ...
struct FakeUrandom {
  std::string path =
      (std::filesystem::temp_directory_path() / ("perfkvm-urandom-" + std::to_string(::getpid())))
          .string();
  explicit FakeUrandom(std::size_t size) {
    std::ofstream out(path, std::ios::binary);
    for (std::size_t i = 0; i < size; ++i) out.put(static_cast<char>(0xa0 + 0x11 * i));
    REQUIRE(out.good());
  }
  ~FakeUrandom() { std::filesystem::remove(path); }
};

const std::string kFromGetrandom = "1011121314151617";
const std::string kFromUrandom = "a0b1c2d3e4f50617";

std::string nonce_with(std::vector<Step> script, const std::string& urandom) {
  steps = std::move(script);
  calls = 0;
  return random_nonce(RandomSource{scripted_getrandom, urandom.c_str()});
}

std::string failure_with(std::vector<Step> script, const std::string& urandom) {
  try {
    return "(no failure, got " + nonce_with(std::move(script), urandom) + ")";
  } catch (const GuestError& error) {
    return error.what();
  }
}

const std::string kNoUrandom = "/nonexistent/perfkvm-urandom";

}  // namespace

TEST_CASE("the nonce is the hex of getrandom's bytes when it gives them") {
  CHECK(nonce_with({{}}, kNoUrandom) == kFromGetrandom);
  SUBCASE("interrupted by a signal: asks again") {
    CHECK(nonce_with({{EINTR}, {EINTR}, {}}, kNoUrandom) == kFromGetrandom);
  }
}

TEST_CASE("without getrandom the nonce comes from urandom") {
  const FakeUrandom urandom(64);
  SUBCASE("no getrandom in the kernel (ENOSYS)") {
    CHECK(nonce_with({{ENOSYS}}, urandom.path) == kFromUrandom);
  }
  SUBCASE("getrandom gives fewer bytes than asked for") {
    CHECK(nonce_with({{0, 3}}, urandom.path) == kFromUrandom);
  }
  CHECK(calls == 1);  // one try of getrandom, not a loop
}

TEST_CASE("neither getrandom nor urandom: the error says why") {
  CHECK(failure_with({{ENOSYS}}, kNoUrandom) ==
        "cannot get random bytes for the session nonce: No such file or directory");
  const FakeUrandom too_short(3);
  CHECK(failure_with({{ENOSYS}}, too_short.path).starts_with(
      "cannot get random bytes for the session nonce: "));
}

TEST_CASE("the real sources give 16 lowercase hex digits, fresh each time") {
  const std::string first = random_nonce();
  CHECK(first.size() == 16);
  CHECK(first.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(random_nonce() != first);
}
