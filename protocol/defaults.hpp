// The protocol's fixed points, one definition each (PROTOCOL.md §1): where a guest finds the
// host and the host finds its guests. Both agents and the admin tools take them from here.
#pragma once

#include <cstdint>
#include <string_view>

namespace perfkvm::protocol {

// The virtio-serial channel's target name in the domain XML.
inline constexpr std::string_view kChannelName = "org.perfkvm.0";
// Where udev puts that port in the guest.
inline constexpr std::string_view kGuestPortPath = "/dev/virtio-ports/org.perfkvm.0";
static_assert(kGuestPortPath.ends_with(kChannelName));
// AF_VSOCK: the host's CID as a guest sees it (VMADDR_CID_HOST) and hostd's port.
inline constexpr std::uint32_t kHostCid = 2;
inline constexpr std::uint32_t kVsockPort = 9999;

}  // namespace perfkvm::protocol
