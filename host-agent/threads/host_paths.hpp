// Where the host agent finds processes and libvirt's runtime files. Tests point both at
// fixture trees.
#pragma once

#include <filesystem>

namespace perfkvm::host {

struct HostPaths {
  std::filesystem::path proc_root = "/proc";
  // libvirt's qemu driver keeps <name>.pid and the status XML <name>.xml here.
  std::filesystem::path libvirt_qemu_run_dir = "/run/libvirt/qemu";
};

}  // namespace perfkvm::host
