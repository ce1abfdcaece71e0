#include "guest-agent/diagnostics.hpp"

namespace perfkvm::guest {

void Diagnostics::line(std::string_view level, std::string_view message) {
  out_ << "perfkvm: " << level << ": " << printable(message) << std::endl;
}

}  // namespace perfkvm::guest
