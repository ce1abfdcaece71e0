#include "guest-agent/ping_command.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <cstdio>

#include "guest-agent/host_link.hpp"
#include "guest-agent/host_session.hpp"
#include "guest-agent/run_command.hpp"
#include "guest-agent/transport.hpp"

namespace perfkvm::guest {

namespace {

double microseconds_since(Clock::time_point start) {
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

// keepalive -> the host's echo of it.
double time_keepalive(HostSession& session, Clock::time_point deadline) {
  const auto sent = Clock::now();
  session.send(protocol::Keepalive{});
  for (;;) {
    auto message = session.next_message(deadline, "keepalive");
    if (std::holds_alternative<protocol::Keepalive>(message)) return microseconds_since(sent);
    if (const auto* error = std::get_if<protocol::Error>(&message)) {
      throw GuestError("perfkvm-hostd answered a keepalive with " +
                       std::string(to_string(error->code)) + ": " + printable(error->message));
    }
  }
}

// stop -> report, so that the next start finds no request running.
void stop_request(HostSession& session, std::uint64_t request_id, Clock::time_point deadline) {
  protocol::Stop stop;
  stop.request_id = request_id;
  session.send(stop);
  for (;;) {
    auto message = session.next_message(deadline, "stop");
    if (const auto* report = std::get_if<protocol::Report>(&message);
        report && report->request_id == request_id) {
      return;
    }
    if (const auto* error = std::get_if<protocol::Error>(&message);
        error && error->request_id.value_or(request_id) == request_id) {
      throw GuestError("perfkvm-hostd answered stop with " + std::string(to_string(error->code)) +
                       ": " + printable(error->message));
    }
  }
}

std::string milliseconds(double us) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f ms", us / 1000.0);
  return text;
}

std::string summary_line(const std::string& what, const RoundTrips& trips) {
  return what + "median " + milliseconds(trips.percentile(50)) + ", p99 " +
         milliseconds(trips.percentile(99)) + ", min " + milliseconds(trips.min()) + ", max " +
         milliseconds(trips.max()) + "\n";
}

boost::json::object summary_json(const RoundTrips& trips) {
  return {{"count", trips.us.size()},
          {"median_us", trips.percentile(50)},
          {"p99_us", trips.percentile(99)},
          {"min_us", trips.min()},
          {"max_us", trips.max()}};
}

}  // namespace

double RoundTrips::percentile(double p) const {
  if (us.empty()) return 0;
  std::vector<double> sorted = us;
  std::sort(sorted.begin(), sorted.end());
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

double RoundTrips::min() const { return us.empty() ? 0 : *std::min_element(us.begin(), us.end()); }
double RoundTrips::max() const { return us.empty() ? 0 : *std::max_element(us.begin(), us.end()); }

std::string format_ping(const PingFigures& figures, bool json) {
  const double ratio = figures.keepalive.percentile(50) > 0
                           ? figures.start.percentile(50) / figures.keepalive.percentile(50)
                           : 0;
  if (json) {
    boost::json::array events;
    for (const auto& event : figures.events) events.emplace_back(event);
    const boost::json::object object{{"target", figures.target},
                                     {"transport", figures.transport},
                                     {"events", events},
                                     {"keepalive", summary_json(figures.keepalive)},
                                     {"start", summary_json(figures.start)},
                                     {"start_over_keepalive_median", ratio},
                                     {"rate_limited", figures.rate_limited}};
    return boost::json::serialize(object) + "\n";
  }
  std::string events;
  for (const auto& event : figures.events) events += (events.empty() ? "" : ",") + event;
  std::string text = "perfkvm-hostd for " + figures.target + " over " + figures.transport +
                     ": " + std::to_string(figures.start.us.size()) + " round trips of each kind\n";
  text += summary_line("  keepalive -> keepalive (the floor): ", figures.keepalive);
  text += summary_line("  start -> started (" + events + "): ", figures.start);
  char ratio_text[64];
  std::snprintf(ratio_text, sizeof ratio_text, "  start / keepalive at the median: %.2fx\n", ratio);
  text += ratio_text;
  if (figures.rate_limited > 0) {
    text += "  " + std::to_string(figures.rate_limited) +
            " starts were asked to wait by the host's start budget (repeated, not timed)\n";
  }
  return text;
}

int run_ping(const PingOptions& options, std::ostream& out, Diagnostics& diagnostics) {
  HostLink link(open_transport(options.connect), diagnostics);
  HostSession session(link, options.connect.timeout(), options.connect.timeout_text());
  const protocol::Welcome& welcome = session.open();

  PingFigures figures;
  figures.transport = link.transport().description();
  figures.events = options.events;
  for (std::size_t i = 0; i < options.count; ++i) {
    figures.keepalive.us.push_back(
        time_keepalive(session, Clock::now() + options.connect.timeout()));
  }
  protocol::Start start;
  start.events = options.events;
  for (std::size_t i = 0; i < options.count; ++i) {
    const auto deadline = Clock::now() + options.connect.timeout();
    for (;;) {
      const auto sent = Clock::now();
      const auto answer = session.try_start(start, deadline);
      if (const auto* started = std::get_if<protocol::Started>(&answer)) {
        figures.start.us.push_back(microseconds_since(sent));
        if (figures.target.empty()) figures.target = target_label(welcome, *started);
        stop_request(session, started->request_id, deadline);
        break;
      }
      // Asked to wait (the domain's start budget): wait, then ask again, untimed.
      ++figures.rate_limited;
      session.pause_until(Clock::now() + std::get<std::chrono::milliseconds>(answer));
    }
  }
  out << format_ping(figures, options.json) << std::flush;
  return 0;
}

}  // namespace perfkvm::guest
