// libFuzzer target: untrusted text through the policy readers (host-agent/policy/policy_xml.hpp
// and domain_policy.hpp): parse_policy_xml (the element libvirt's <metadata> returns, or a
// file), parse_domain_policy (a whole domain XML) and parse_event_list (perfkvm-host policy set
// --events). Every input goes through all three. Checks, beyond "no crash, no leak, no
// exception but PolicyError":
//   - a policy read keeps the bounds the reader promises: numbers in 1..their maximum, event
//     and mode lists non-empty when present, no class, event or mode twice;
//   - it is written back (policy_xml, policy_xml_with_namespace, and the latter inside a
//     domain's <metadata>) without an error, and read back to the same policy;
//   - an event list is described, and its description read back to the same list.
// Input: the text, nothing else (seeds: fuzz/make_seed_corpus.py).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "host-agent/policy/domain_policy.hpp"
#include "host-agent/policy/policy_xml.hpp"

using namespace perfkvm::host;

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

template <class T>
bool unique(const std::vector<T>& items) {
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (std::count(items.begin(), items.end(), items[i]) != 1) return false;
  }
  return true;
}

void check_bounds(const DomainPolicy& policy) {
  const auto within = [](const std::optional<std::uint32_t>& value, std::uint32_t max) {
    return !value || (*value >= 1 && *value <= max);
  };
  check(within(policy.min_interval_ms, kMaxPolicyIntervalMs));
  check(within(policy.max_sessions, kMaxPolicyCount));
  check(within(policy.max_events, kMaxPolicyCount));
  if (policy.events) {
    check(!policy.events->classes.empty() || !policy.events->events.empty());
    check(unique(policy.events->classes) && unique(policy.events->events));
  }
  if (policy.modes) check(!policy.modes->empty() && unique(*policy.modes));
}

template <class Parse>
auto read(Parse parse) -> std::optional<decltype(parse())> {
  try {
    return parse();
  } catch (const PolicyError&) {
    return std::nullopt;
  }
}

void check_round_trip(const DomainPolicy& policy) {
  check_bounds(policy);
  // Throwing here (PolicyError included) is a finding: the writer refuses what the reader took.
  const std::string plain = policy_xml(policy);
  const std::string qualified = policy_xml_with_namespace(policy);
  check(parse_policy_xml(plain) == policy);
  check(parse_policy_xml(qualified) == policy);
  const auto in_domain = parse_domain_policy(
      "<domain type='kvm'><name>fuzz</name><metadata>" + qualified + "</metadata></domain>");
  check(in_domain && *in_domain == policy);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  if (const auto policy = read([&] { return parse_policy_xml(text); })) {
    check_round_trip(*policy);
  }
  if (const auto found = read([&] { return parse_domain_policy(text); }); found && *found) {
    check_round_trip(**found);
  }
  if (const auto list = read([&] { return parse_event_list(text); })) {
    check(!list->classes.empty() || !list->events.empty());
    check(unique(list->classes) && unique(list->events));
    const auto again = read([&] { return parse_event_list(describe(*list)); });
    check(again && *again == *list);
    DomainPolicy policy;
    policy.events = *list;
    check_round_trip(policy);
  }
  return 0;
}
