#include "guest-agent/diagnostics.hpp"

namespace perfkvm::guest {

std::string printable(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = '?';
  }
  return out;
}

void Diagnostics::line(std::string_view level, std::string_view message) {
  out_ << "perfkvm: " << level << ": " << printable(message) << std::endl;
}

}  // namespace perfkvm::guest
