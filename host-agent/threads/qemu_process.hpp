// Which process is a libvirt domain's QEMU.
//
// libvirt writes the QEMU pid to <run dir>/<name>.pid, but a pid file can outlive its process
// and the pid be reused, so it is trusted only when /proc/<pid>/cmdline is that domain's QEMU.
// Otherwise the /proc/<pid>/cmdline of every process named like QEMU (comm "qemu...", which the
// kernel keeps outside the process's memory) is scanned: reading a cmdline can wait on that
// process's mmap lock, so no other process's is read. "That domain's QEMU" means: argv[0] is a
// QEMU binary (basename starts with "qemu"; a debugging wrapper such as strace or a shell
// script carrying the same arguments is not QEMU), its last -uuid is the domain's UUID (any
// case) and its last -name names the domain, as libvirt writes it:
// "-name guest=<name>,debug-threads=on" with commas in the name doubled.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "host-agent/threads/host_paths.hpp"

namespace perfkvm::host {

struct QemuProcessLookup {
  std::optional<pid_t> pid;
  std::string source;            // "pid-file" or "cmdline-scan"; empty when not found
  std::string pid_file_problem;  // why libvirt's pid file was not used; empty when it was
  std::string problem;           // why no process was found; empty when one was
};

// Throws std::invalid_argument if domain_name is empty or uuid is not a canonical UUID string
// (8-4-4-4-12 hex digits): both come from libvirt, so that is a programming error.
QemuProcessLookup locate_qemu_process(const HostPaths& paths, std::string_view domain_name,
                                      std::string_view uuid);

// locate_qemu_process(...).pid.
std::optional<pid_t> find_qemu_pid(const HostPaths& paths, std::string_view domain_name,
                                   std::string_view uuid);

// argv from /proc/<pid>/cmdline bytes (NUL-terminated arguments; a missing final NUL is
// tolerated). Empty for kernel threads and zombies.
std::vector<std::string> split_cmdline(std::string_view bytes);

// The guest name in a QEMU -name value: "guest=a,,b,debug-threads=on" -> "a,b"; a first
// option without '=' is the name too (QEMU's implied key). nullopt when there is none.
std::optional<std::string> guest_name_of(std::string_view name_option);

// True when argv is the QEMU of the domain (see the top of this file).
bool is_domain_qemu(const std::vector<std::string>& argv, std::string_view domain_name,
                    std::string_view uuid);

}  // namespace perfkvm::host
