#include "host-agent/threads/proc_files.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <limits>
#include <system_error>

#include "util/unique_fd.hpp"

namespace perfkvm::host::proc {

BoundedRead read_bounded(const std::filesystem::path& path, std::size_t max_bytes) {
  BoundedRead result;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!fd) {
    result.error = errno;
    return result;
  }
  // One byte more than allowed tells a file of exactly max_bytes from a longer one.
  std::string bytes(max_bytes + 1, '\0');
  std::size_t filled = 0;
  while (filled < bytes.size()) {
    const ssize_t n = ::read(fd.get(), bytes.data() + filled, bytes.size() - filled);
    if (n < 0) {
      if (errno == EINTR) continue;
      result.error = errno;
      return result;
    }
    if (n == 0) break;
    filled += static_cast<std::size_t>(n);
  }
  result.truncated = filled > max_bytes;
  bytes.resize(std::min(filled, max_bytes));
  result.bytes = std::move(bytes);
  return result;
}

bool vanished(int error) { return error == ENOENT || error == ESRCH; }

std::optional<pid_t> parse_pid(std::string_view text) {
  if (text.empty() || text.front() < '1' || text.front() > '9') return std::nullopt;
  long long value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  if (value > std::numeric_limits<pid_t>::max()) return std::nullopt;
  return static_cast<pid_t>(value);
}

std::optional<std::vector<pid_t>> list_pids(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) return std::nullopt;
  std::vector<pid_t> pids;
  // An entry vanishing mid-listing is not an error; an iterator error ends the listing with
  // what was seen so far, which is all a racy snapshot of /proc can promise anyway.
  for (; !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (const auto pid = parse_pid(it->path().filename().native())) pids.push_back(*pid);
  }
  std::sort(pids.begin(), pids.end());
  return pids;
}

}  // namespace perfkvm::host::proc
