// The one UUID check: libvirt's domain UUIDs, from XML, libvirt and command lines, before they
// name a file or reach a message.
#pragma once

#include <string_view>

namespace perfkvm {

// 8-4-4-4-12 hex digits (either case) with dashes: the form libvirt prints and QEMU's -uuid
// takes.
bool is_canonical_uuid(std::string_view text);

}  // namespace perfkvm
