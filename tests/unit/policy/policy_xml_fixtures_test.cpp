// Data-driven policy XML tests, one subcase per tests/data/policy/NAME.xml:
//   NAME.xml      a good policy: NAME.txt is describe() of its effective policy over
//                 kFixtureHost (limits 10 ms, 32 events, 4 sessions; default allow), exactly
//   bad-NAME.xml  a policy parse_policy_xml refuses: bad-NAME.txt is the PolicyXmlError's
//                 message, exactly
// Every good policy must also survive the round trip through both written forms.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "host-agent/policy/effective_policy.hpp"
#include "host-agent/policy/policy_xml.hpp"
#include "tests/unit/test_data.hpp"

using namespace perfkvm::host;
using perfkvm::test::chomp;
using perfkvm::test::data_dir;
using perfkvm::test::fixtures;
using perfkvm::test::read_file;

namespace {

const HostPolicyDefaults kFixtureHost =
    host_policy_defaults(HostLimits{10, 32, 4}, GuestRequests::allow);

bool is_bad(const std::filesystem::path& path) {
  return path.filename().string().rfind("bad-", 0) == 0;
}

std::filesystem::path expected_file(std::filesystem::path path) {
  return path.replace_extension(".txt");
}

}  // namespace

TEST_CASE("policy XML fixtures: good policies and their effective policy") {
  int seen = 0;
  for (const auto& path : fixtures(data_dir() / "policy", ".xml")) {
    if (is_bad(path)) continue;
    ++seen;
    SUBCASE(path.filename().c_str()) {
      const DomainPolicy policy = parse_policy_xml(read_file(path));
      CHECK(describe(effective_policy(policy, kFixtureHost)) ==
            read_file(expected_file(path)));
    }
  }
  CHECK(seen >= 5);
}

TEST_CASE("policy XML fixtures: bad policies and their messages") {
  int seen = 0;
  for (const auto& path : fixtures(data_dir() / "policy", ".xml")) {
    if (!is_bad(path)) continue;
    ++seen;
    SUBCASE(path.filename().c_str()) {
      const std::string expected = chomp(read_file(expected_file(path)));
      CHECK_THROWS_WITH_AS(parse_policy_xml(read_file(path)), expected.c_str(), PolicyXmlError);
    }
  }
  CHECK(seen >= 20);
}

TEST_CASE("policy XML fixtures: every good policy survives both written forms") {
  for (const auto& path : fixtures(data_dir() / "policy", ".xml")) {
    if (is_bad(path)) continue;
    SUBCASE(path.filename().c_str()) {
      const DomainPolicy policy = parse_policy_xml(read_file(path));
      CHECK(parse_policy_xml(policy_xml(policy)) == policy);
      CHECK(parse_policy_xml(policy_xml_with_namespace(policy)) == policy);
    }
  }
}

TEST_CASE("the example in xml/perfkvm-policy.xml is a valid policy") {
  const std::string example = read_file(data_dir() / ".." / ".." / "xml" / "perfkvm-policy.xml");
  const auto begin = example.find("<perfkvm:policy");
  const std::string end_tag = "</perfkvm:policy>";
  const auto end = example.find(end_tag);
  REQUIRE(begin != std::string::npos);
  REQUIRE(end != std::string::npos);
  const DomainPolicy policy =
      parse_policy_xml(example.substr(begin, end + end_tag.size() - begin));
  // The example shows every rule.
  CHECK(policy.guest_requests.has_value());
  CHECK(policy.events.has_value());
  CHECK(policy.min_interval_ms.has_value());
  CHECK(policy.max_sessions.has_value());
  CHECK(policy.max_events.has_value());
  CHECK(policy.modes.has_value());
  CHECK(policy.export_counted.has_value());
}
