// Locating and reading fixture files under tests/data.
#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace perfkvm::test {

inline std::filesystem::path data_dir() { return PERFKVM_TEST_DATA_DIR; }

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read fixture " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Files in `dir` ending in `extension`, sorted, so tests run in a stable order.
inline std::vector<std::filesystem::path> fixtures(const std::filesystem::path& dir,
                                                   const std::string& extension) {
  std::vector<std::filesystem::path> found;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().extension() == extension) {
      found.push_back(entry.path());
    }
  }
  std::sort(found.begin(), found.end());
  if (found.empty()) throw std::runtime_error("no " + extension + " fixtures in " + dir.string());
  return found;
}

// Trims a trailing newline, which editors add to fixture files.
inline std::string chomp(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

}  // namespace perfkvm::test
