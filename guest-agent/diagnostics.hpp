// perfkvm's own messages on stderr ("perfkvm: error: ..."), apart from the report, which
// may be CSV or JSON or go to a file (-o).
#pragma once

#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>

#include "util/printable.hpp"

namespace perfkvm::guest {

// A failure with a message for the user; main prints it and exits 1.
class GuestError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Text from the host (names, error messages) is untrusted: util/printable.hpp keeps control
// characters, which could drive the terminal, off it.
using perfkvm::printable;

class Diagnostics {
 public:
  explicit Diagnostics(std::ostream& out, bool verbose = false) : out_(out), verbose_(verbose) {}

  void error(std::string_view message) { line("error", message); }
  void warning(std::string_view message) { line("warning", message); }
  // What perfkvm did on the user's behalf (--isolate), once per run.
  void note(std::string_view message) { line("note", message); }
  // Protocol details (dropped frames, messages sent): only with --verbose.
  void debug(std::string_view message) {
    if (verbose_) line("debug", message);
  }

 private:
  // The whole line goes through printable(): host error messages are part of many.
  void line(std::string_view level, std::string_view message);

  std::ostream& out_;
  bool verbose_;
};

}  // namespace perfkvm::guest
