#include "guest-agent/list_command.hpp"

#include <linux/perf_event.h>

#include "guest-agent/host_link.hpp"
#include "guest-agent/host_session.hpp"
#include "guest-agent/transport.hpp"
#include "protocol/events.hpp"

namespace perfkvm::guest {

namespace {

std::string pad(std::string text, std::size_t width) {
  if (text.size() < width) text.append(width - text.size(), ' ');
  return text;
}

// perf list's words: the message's kind, and our catalogue for the cache events (the
// protocol's kinds are hardware and software: a cache event is hardware there).
std::string kind_label(protocol::EventKind kind, const protocol::EventInfo* info) {
  if (kind == protocol::EventKind::software) return "Software event";
  if (info && info->perf_type == PERF_TYPE_HW_CACHE) return "Hardware cache event";
  return "Hardware event";
}

}  // namespace

std::string format_event_list(const std::vector<protocol::EventStatus>& events,
                              const protocol::Welcome& welcome) {
  const std::string vm =
      welcome.domain_name.empty() ? "this VM" : "VM '" + printable(welcome.domain_name) + "'";
  std::string text = "Events perfkvm-hostd counts for " + vm + " (" +
                     std::to_string(welcome.vcpus) + " vCPUs), to be used in -e:\n\n";
  for (const auto& event : events) {
    std::string label = printable(event.name);
    const auto* info = protocol::find_event(event.name);
    if (info && !info->alias.empty()) label += " OR " + std::string(info->alias);
    // perf list's layout: two spaces, the names in 50 columns, then the kind.
    text += "  " + pad(label, 50) + " [" + kind_label(event.kind, info) + "]";
    if (event.status != protocol::Availability::supported) {
      // The host counts a not-permitted event, but this domain's policy does not allow it.
      text += event.status == protocol::Availability::not_permitted ? " <not permitted>"
                                                                     : " <not supported>";
      if (!event.reason.empty()) text += " (" + printable(event.reason) + ")";
    }
    text += "\n";
  }
  return text;
}

int run_list(const ListOptions& options, std::ostream& out, Diagnostics& diagnostics) {
  HostLink link(open_transport(options.connect), diagnostics);
  HostSession session(link, options.connect.timeout(), options.connect.timeout_text());
  const protocol::Welcome& welcome = session.open();
  out << format_event_list(session.list_events(), welcome) << std::flush;
  return 0;
}

}  // namespace perfkvm::guest
