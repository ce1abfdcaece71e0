// policy_xml and policy_xml_with_namespace: the exact text libvirt is given, what the writer
// refuses, and the reader's bounds that no fixture file shows.
#include <doctest/doctest.h>

#include <string>

#include "host-agent/policy/policy_xml.hpp"

using namespace perfkvm::host;
using perfkvm::protocol::EventKind;
using perfkvm::protocol::StartMode;

namespace {

DomainPolicy full_policy() {
  DomainPolicy policy;
  policy.guest_requests = GuestRequests::allow;
  policy.events = EventAllowList{{EventKind::software}, {"instructions"}};
  policy.min_interval_ms = 100;
  policy.max_sessions = 2;
  policy.max_events = 8;
  policy.modes = std::vector{StartMode::guest, StartMode::both};
  policy.export_counted = false;
  return policy;
}

}  // namespace

TEST_CASE("policy_xml writes the element without namespace, as virDomainSetMetadata takes it") {
  CHECK(policy_xml(full_policy()) ==
        "<policy guest-requests='allow' min-interval-ms='100' max-sessions='2' max-events='8'"
        " export='no'>\n"
        "  <events>\n"
        "    <class name='software'/>\n"
        "    <event name='instructions'/>\n"
        "  </events>\n"
        "  <modes>\n"
        "    <mode name='guest'/>\n"
        "    <mode name='both'/>\n"
        "  </modes>\n"
        "</policy>\n");
  CHECK(policy_xml(DomainPolicy{}) == "<policy/>\n");
  CHECK(parse_policy_xml(policy_xml(full_policy())) == full_policy());
}

TEST_CASE("policy_xml_with_namespace writes the qualified element with its declaration") {
  DomainPolicy policy;
  policy.max_events = 4;
  policy.modes = std::vector{StartMode::host};
  CHECK(policy_xml_with_namespace(policy) ==
        "<perfkvm:policy xmlns:perfkvm='https://perfkvm.org/xmlns/policy/1' max-events='4'>\n"
        "  <perfkvm:modes>\n"
        "    <perfkvm:mode name='host'/>\n"
        "  </perfkvm:modes>\n"
        "</perfkvm:policy>\n");
  CHECK(parse_policy_xml(policy_xml_with_namespace(full_policy())) == full_policy());
}

TEST_CASE("policy_xml refuses a policy that would not read back the same") {
  DomainPolicy policy;
  SUBCASE("an unknown event") {
    policy.events = EventAllowList{{}, {"cycels"}};
    CHECK_THROWS_WITH_AS(policy_xml(policy),
                         doctest::Contains("cannot write the policy: 'cycels' is neither"),
                         PolicyError);
  }
  SUBCASE("an alias instead of the canonical name") {
    policy.events = EventAllowList{{}, {"cycles"}};
    CHECK_THROWS_WITH_AS(
        policy_xml(policy),
        "cannot write the policy: event aliases must be written as their canonical names",
        PolicyError);
  }
  SUBCASE("an empty events list") {
    policy.events = EventAllowList{};
    CHECK_THROWS_WITH_AS(policy_xml(policy), "cannot write the policy: the events list is empty",
                         PolicyError);
  }
  SUBCASE("an empty modes list") {
    policy.modes = std::vector<StartMode>{};
    CHECK_THROWS_WITH_AS(policy_xml(policy), "cannot write the policy: the modes list is empty",
                         PolicyError);
  }
  SUBCASE("a mode twice") {
    policy.modes = std::vector{StartMode::all, StartMode::all};
    CHECK_THROWS_WITH_AS(policy_xml(policy), "cannot write the policy: mode 'all' is listed twice",
                         PolicyError);
  }
  SUBCASE("a number out of bounds") {
    policy.max_events = 0;
    CHECK_THROWS_WITH_AS(policy_xml(policy),
                         "cannot write the policy: max-events 0 is not in 1..1024", PolicyError);
  }
}

TEST_CASE("parse_policy_xml refuses more than kMaxPolicyXmlBytes before parsing") {
  std::string xml = "<policy>";
  xml += std::string(kMaxPolicyXmlBytes, ' ');
  xml += "</policy>";
  CHECK_THROWS_WITH_AS(parse_policy_xml(xml),
                       ("policy XML is " + std::to_string(xml.size()) +
                        " bytes, more than the 65536 accepted")
                           .c_str(),
                       PolicyXmlError);
  CHECK(parse_policy_xml(std::string("<policy>") + std::string(1000, ' ') + "</policy>") ==
        DomainPolicy{});
}

TEST_CASE("parse_policy_xml quotes untrusted values bounded and without control characters") {
  const std::string long_value(500, 'a');
  CHECK_THROWS_WITH_AS(parse_policy_xml("<policy export='" + long_value + "'/>"),
                       ("policy XML: line 1: <policy export> '" + std::string(64, 'a') +
                        "...' is neither 'yes' nor 'no'")
                           .c_str(),
                       PolicyXmlError);
}

TEST_CASE("parse_domain_policy finds the element in a domain's <metadata> by its namespace") {
  const std::string with_policy =
      "<domain type='kvm'><name>web</name><metadata>"
      "<app:policy xmlns:app='https://example.com/app/1' guest-requests='deny'/>"
      "<perfkvm:policy xmlns:perfkvm='https://perfkvm.org/xmlns/policy/1' max-sessions='2'>"
      "<perfkvm:events><perfkvm:class name='software'/></perfkvm:events>"
      "</perfkvm:policy></metadata><vcpu>2</vcpu></domain>";
  const auto policy = parse_domain_policy(with_policy);
  REQUIRE(policy);
  DomainPolicy expected;
  expected.max_sessions = 2;
  expected.events = EventAllowList{{EventKind::software}, {}};
  CHECK(*policy == expected);  // another application's <policy> is not ours

  CHECK_FALSE(parse_domain_policy("<domain><name>web</name></domain>"));
  CHECK_FALSE(parse_domain_policy(
      "<domain><metadata><app:x xmlns:app='https://example.com/app/1'/></metadata></domain>"));
  // Unqualified, it is not in a namespace libvirt would have written: not ours either.
  CHECK_FALSE(parse_domain_policy("<domain><metadata><policy max-sessions='2'/></metadata></domain>"));
  CHECK_THROWS_WITH_AS(
      parse_domain_policy("<domain><metadata><perfkvm:policy "
                          "xmlns:perfkvm='https://perfkvm.org/xmlns/policy/1' "
                          "max-sessions='lots'/></metadata></domain>"),
      doctest::Contains("max-sessions"), PolicyXmlError);
}
