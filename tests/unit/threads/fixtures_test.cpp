// Data-driven: one subcase per folder in tests/data/threads (format in its README.md).
#include <doctest/doctest.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "host-agent/threads/vcpu_threads.hpp"
#include "test_data.hpp"

using namespace perfkvm::host;
using perfkvm::test::data_dir;
using perfkvm::test::read_file;

namespace {

// "key rest of line" lines of an input or expect file, in order.
std::multimap<std::string, std::string> read_keyed_lines(const std::filesystem::path& path) {
  std::multimap<std::string, std::string> lines;
  std::istringstream in(read_file(path));
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const auto space = line.find(' ');
    lines.emplace(line.substr(0, space), space == std::string::npos ? "" : line.substr(space + 1));
  }
  return lines;
}

std::vector<std::string> values(const std::multimap<std::string, std::string>& lines,
                                const std::string& key) {
  std::vector<std::string> found;
  for (auto [it, end] = lines.equal_range(key); it != end; ++it) found.push_back(it->second);
  return found;
}

std::optional<std::string> value(const std::multimap<std::string, std::string>& lines,
                                 const std::string& key) {
  const auto found = values(lines, key);
  REQUIRE_MESSAGE(found.size() <= 1, "key '" << key << "' given twice");
  if (found.empty()) return std::nullopt;
  return found.front();
}

long long number(const std::string& text) {
  long long n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  REQUIRE_MESSAGE((ec == std::errc() && end == text.data() + text.size()),
                  "not a number: " << text);
  return n;
}

std::vector<VcpuThread> thread_list(const std::vector<std::string>& lines) {
  std::vector<VcpuThread> threads;
  for (const auto& line : lines) {
    const auto space = line.find(' ');
    REQUIRE(space != std::string::npos);
    threads.push_back({static_cast<std::uint32_t>(number(line.substr(0, space))),
                       static_cast<pid_t>(number(line.substr(space + 1)))});
  }
  return threads;
}

std::optional<pid_t> optional_pid(const std::optional<std::string>& text) {
  if (!text) return std::nullopt;
  return static_cast<pid_t>(number(*text));
}

void check_contains_all(const std::string& text, const std::vector<std::string>& parts) {
  if (parts.empty()) CHECK_MESSAGE(text.empty(), "unexpected problem: " << text);
  for (const auto& part : parts) {
    CHECK_MESSAGE(text.find(part) != std::string::npos, "'" << part << "' not in: " << text);
  }
}

std::vector<std::filesystem::path> case_dirs() {
  std::vector<std::filesystem::path> dirs;
  for (const auto& entry : std::filesystem::directory_iterator(data_dir() / "threads")) {
    if (entry.is_directory()) dirs.push_back(entry.path());
  }
  std::sort(dirs.begin(), dirs.end());
  REQUIRE_FALSE(dirs.empty());
  return dirs;
}

}  // namespace

TEST_CASE("threads fixtures") {
  for (const auto& dir : case_dirs()) {
    SUBCASE(dir.filename().c_str()) {
      const auto input = read_keyed_lines(dir / "input");
      const auto expect = read_keyed_lines(dir / "expect");
      for (const auto& [key, text] : expect) {
        const bool known = key == "qemu-pid" || key == "qemu-pid-source" || key == "source" ||
                           key == "thread" || key == "all-vcpus-tid" ||
                           key == "pid-file-problem-contains" || key == "problem-contains";
        REQUIRE_MESSAGE(known, "unknown expect key '" << key << "' in " << dir.string());
      }
      const auto domain = value(input, "domain");
      const auto uuid = value(input, "uuid");
      REQUIRE(domain);
      REQUIRE(uuid);
      const HostPaths paths{dir / "proc", dir / "run"};

      const auto lookup = locate_qemu_process(paths, *domain, *uuid);
      CHECK(lookup.pid == optional_pid(value(expect, "qemu-pid")));
      CHECK(lookup.source == value(expect, "qemu-pid-source").value_or(""));
      check_contains_all(lookup.pid_file_problem, values(expect, "pid-file-problem-contains"));
      CHECK(find_qemu_pid(paths, *domain, *uuid) == lookup.pid);

      const auto resolution = resolve_vcpu_threads(paths, *domain, *uuid,
                                                   thread_list(values(input, "status-xml-vcpu")));
      CHECK(resolution.qemu_pid == lookup.pid);
      CHECK(resolution.source == value(expect, "source").value_or(""));
      CHECK(resolution.threads == thread_list(values(expect, "thread")));
      CHECK(resolution.all_vcpus_tid == optional_pid(value(expect, "all-vcpus-tid")));
      check_contains_all(resolution.problem, values(expect, "problem-contains"));
      CHECK(resolution.threads.empty() == !resolution.problem.empty());
      if (resolution.source == "comm") {
        CHECK(find_vcpu_threads(paths, *resolution.qemu_pid) == resolution.threads);
      } else if (resolution.qemu_pid) {
        CHECK(find_vcpu_threads(paths, *resolution.qemu_pid).empty());
      }
    }
  }
}
