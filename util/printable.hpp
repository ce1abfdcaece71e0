// One way to show text that comes from outside (a guest, a peer, /proc, libvirt) in logs,
// messages and reports: it can neither forge lines nor send terminal control sequences.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace perfkvm {

// Control characters, DEL, the backslash and bytes that are not part of valid UTF-8 become
// \xNN (so every escape is unambiguous); so do the bytes of the characters that would change
// how the text reads (C1 controls, line and paragraph separators, bidi controls); other valid
// UTF-8 is kept. Text longer than `max_bytes`
// (of output) is cut at a character boundary and ends with "...".
std::string printable(std::string_view text, std::size_t max_bytes = std::string::npos);

}  // namespace perfkvm
