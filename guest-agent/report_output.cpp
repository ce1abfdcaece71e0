#include "guest-agent/report_output.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "guest-agent/diagnostics.hpp"

namespace perfkvm::guest {

ReportOutput ReportOutput::open(const std::optional<std::string>& path) {
  if (!path) return ReportOutput(UniqueFd(), "stderr");
  UniqueFd file(::open(path->c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!file) {
    throw GuestError("cannot open the output file " + *path + ": " + std::strerror(errno));
  }
  return ReportOutput(std::move(file), *path);
}

ReportOutput::ReportOutput(UniqueFd file, std::string name)
    : file_(std::move(file)), name_(std::move(name)) {}

void ReportOutput::write(std::string_view text) {
  const int fd = file_ ? file_.get() : STDERR_FILENO;
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (error_.empty()) {
        error_ = "cannot write the report to " + name_ + ": " + std::strerror(errno);
      }
      return;
    }
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace perfkvm::guest
