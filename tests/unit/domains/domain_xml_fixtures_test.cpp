// Data-driven domain XML tests, one subcase per tests/data/domains/NAME.xml:
//   NAME.expect   describe() of the parse result, exactly
//   NAME.error    the DomainXmlError message, exactly
//   NAME.channel  optional: the channel name to look for (default org.perfkvm.0)
// Files named status-* are QEMU status XML (parse_status_xml), the rest domain XML.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "host-agent/domains/domain_xml.hpp"
#include "tests/unit/test_data.hpp"

using namespace perfkvm::host;
using perfkvm::test::chomp;
using perfkvm::test::data_dir;
using perfkvm::test::fixtures;
using perfkvm::test::read_file;

namespace {

std::filesystem::path sibling(std::filesystem::path path, const char* extension) {
  return path.replace_extension(extension);
}

std::string parse_and_describe(const std::filesystem::path& path) {
  const std::string xml = read_file(path);
  const auto channel_file = sibling(path, ".channel");
  const std::string channel = std::filesystem::exists(channel_file)
                                  ? chomp(read_file(channel_file))
                                  : std::string(kDefaultChannelName);
  if (path.stem().string().rfind("status-", 0) == 0) {
    return describe(parse_status_xml(xml, channel));
  }
  return describe(parse_domain_xml(xml, channel));
}

}  // namespace

TEST_CASE("domain XML fixtures") {
  for (const auto& path : fixtures(data_dir() / "domains", ".xml")) {
    SUBCASE(path.filename().c_str()) {
      const auto expect_file = sibling(path, ".expect");
      const auto error_file = sibling(path, ".error");
      const bool expects_success = std::filesystem::exists(expect_file);
      REQUIRE_MESSAGE(expects_success != std::filesystem::exists(error_file),
                      "needs exactly one of NAME.expect and NAME.error");
      if (expects_success) {
        CHECK(parse_and_describe(path) == read_file(expect_file));
      } else {
        const std::string expected = chomp(read_file(error_file));
        CHECK_THROWS_WITH_AS(parse_and_describe(path), expected.c_str(), DomainXmlError);
      }
    }
  }
}
