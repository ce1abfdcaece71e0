// The small parsers under the /proc lookups: thread names, QEMU's -name, command lines, pids.
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "host-agent/threads/proc_files.hpp"
#include "host-agent/threads/qemu_process.hpp"
#include "host-agent/threads/vcpu_threads.hpp"

using namespace perfkvm::host;
using namespace std::string_literals;

TEST_CASE("vCPU thread names") {
  CHECK(vcpu_index_of_thread_name("CPU 0/KVM") == 0u);
  CHECK(vcpu_index_of_thread_name("CPU 7/TCG") == 7u);
  CHECK(vcpu_index_of_thread_name("CPU 4294967295/KVM") == 4294967295u);
  for (const auto& name : std::vector<std::string>{
           "CPU 4294967296/KVM", "CPU 01/KVM", "CPU -1/KVM", "CPU +1/KVM", "CPU /KVM", "CPU 1/kvm",
           "CPU 1/HVF", "CPU 1/KVM\n", "CPU 1 /KVM", "cpu 1/KVM", "CPU 1/KVMX", "ALL CPUs/TCG",
           "qemu-system-x86", "", "CPU 1\0/KVM"s, "CPU 1/KV"}) {
    CAPTURE(name);
    CHECK_FALSE(vcpu_index_of_thread_name(name).has_value());
  }
}

TEST_CASE("guest name in QEMU's -name option") {
  CHECK(guest_name_of("guest=web1,debug-threads=on") == "web1");
  CHECK(guest_name_of("guest=a,,b,,,debug-threads=on") == "a,b,");
  CHECK(guest_name_of("web1,debug-threads=on") == "web1");  // QEMU's implied key
  CHECK(guest_name_of("debug-threads=on,guest=web1") == "web1");
  CHECK(guest_name_of("guest=a=b") == "a=b");
  CHECK_FALSE(guest_name_of("debug-threads=on").has_value());
  CHECK_FALSE(guest_name_of("guest=,debug-threads=on").has_value());
  CHECK_FALSE(guest_name_of("").has_value());
}

TEST_CASE("command line splitting") {
  CHECK(split_cmdline(""s).empty());
  CHECK(split_cmdline("qemu\0-S\0"s) == std::vector<std::string>{"qemu", "-S"});
  CHECK(split_cmdline("qemu\0\0-S"s) == std::vector<std::string>{"qemu", "", "-S"});
  CHECK(split_cmdline("no nul at end"s) == std::vector<std::string>{"no nul at end"});
}

TEST_CASE("which command lines are the domain's QEMU") {
  const std::string uuid = "6f1c2b9e-4d3a-4c8e-9b2f-1a7d5e3c9f04";
  const std::vector<std::string> qemu = {"/usr/bin/qemu-system-x86_64", "-name",
                                         "guest=web1,debug-threads=on", "-uuid", uuid};
  CHECK(is_domain_qemu(qemu, "web1", uuid));
  CHECK(is_domain_qemu(qemu, "web1", "6F1C2B9E-4D3A-4C8E-9B2F-1A7D5E3C9F04"));
  CHECK_FALSE(is_domain_qemu(qemu, "web2", uuid));
  CHECK_FALSE(is_domain_qemu(qemu, "web1", "6f1c2b9e-4d3a-4c8e-9b2f-1a7d5e3c9f05"));

  auto later_uuid_wins = qemu;
  later_uuid_wins.insert(later_uuid_wins.end(), {"--uuid", "00000000-0000-0000-0000-000000000000"});
  CHECK_FALSE(is_domain_qemu(later_uuid_wins, "web1", uuid));

  auto under_strace = qemu;
  under_strace.insert(under_strace.begin(), "strace");
  CHECK_FALSE(is_domain_qemu(under_strace, "web1", uuid));

  auto kvm_binary = qemu;
  kvm_binary.front() = "/usr/libexec/qemu-kvm";
  CHECK(is_domain_qemu(kvm_binary, "web1", uuid));

  const std::vector<std::string> uuid_last = {"qemu-system-x86_64", "-name", "guest=web1", "-uuid"};
  CHECK_FALSE(is_domain_qemu(uuid_last, "web1", uuid));
  const std::vector<std::string> no_name = {"qemu-system-x86_64", "-uuid", uuid};
  CHECK_FALSE(is_domain_qemu(no_name, "web1", uuid));
  CHECK_FALSE(is_domain_qemu({}, "web1", uuid));
}

TEST_CASE("pids as /proc spells them") {
  using perfkvm::host::proc::parse_pid;
  CHECK(parse_pid("1") == 1);
  CHECK(parse_pid("2147483647") == 2147483647);
  for (const char* text : {"", "0", "01", "-1", "+1", "2147483648", "12a", " 1", "1 ", "self"}) {
    CAPTURE(text);
    CHECK_FALSE(parse_pid(text).has_value());
  }
}

TEST_CASE("untrusted bytes in messages") {
  using perfkvm::host::proc::printable;
  CHECK(printable("CPU 0/KVM") == "CPU 0/KVM");
  CHECK(printable("a\nb\\\xff"s) == "a\\x0ab\\x5c\\xff");
  CHECK(printable(std::string(100, 'x'), 4) == "xxxx...");
}

TEST_CASE("bad arguments are programming errors") {
  const HostPaths paths{"/nonexistent/proc", "/nonexistent/run"};
  CHECK_THROWS_AS(find_qemu_pid(paths, "", "6f1c2b9e-4d3a-4c8e-9b2f-1a7d5e3c9f04"),
                  std::invalid_argument);
  for (const char* uuid :
       {"", "6f1c2b9e4d3a4c8e9b2f1a7d5e3c9f04", "6f1c2b9e-4d3a-4c8e-9b2f-1a7d5e3c9f0g",
        "6f1c2b9e-4d3a-4c8e-9b2f-1a7d5e3c9f044"}) {
    CAPTURE(uuid);
    CHECK_THROWS_AS(resolve_vcpu_threads(paths, "web1", uuid, {}), std::invalid_argument);
  }
  // A missing /proc is not a programming error.
  const auto resolution =
      resolve_vcpu_threads(paths, "web1", "6f1c2b9e-4d3a-4c8e-9b2f-1a7d5e3c9f04", {});
  CHECK_FALSE(resolution.qemu_pid.has_value());
  CHECK(resolution.problem.find("no pid file /nonexistent/run/web1.pid") != std::string::npos);
}

TEST_CASE("a domain name that is not a file name has no pid file") {
  const HostPaths paths{"/nonexistent/proc", "/nonexistent/run"};
  const auto lookup =
      locate_qemu_process(paths, "../etc/web1", "6f1c2b9e-4d3a-4c8e-9b2f-1a7d5e3c9f04");
  CHECK_FALSE(lookup.pid.has_value());
  CHECK(lookup.pid_file_problem == "domain name '../etc/web1' cannot name a pid file");
  // open() would stop at the NUL and read web1.pid.
  CHECK(locate_qemu_process(paths, "web1\0x"s, "6f1c2b9e-4d3a-4c8e-9b2f-1a7d5e3c9f04")
            .pid_file_problem == "domain name 'web1\\x00x' cannot name a pid file");
}
