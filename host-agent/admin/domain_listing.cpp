#include "host-agent/admin/domain_listing.hpp"

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <stdexcept>

#include "host-agent/domains/domain_threads.hpp"

namespace perfkvm::host {

namespace json = boost::json;

namespace {

constexpr std::pair<int, const char*> kStates[] = {
    {VIR_DOMAIN_NOSTATE, "no state"},   {VIR_DOMAIN_RUNNING, "running"},
    {VIR_DOMAIN_BLOCKED, "idle"},       {VIR_DOMAIN_PAUSED, "paused"},
    {VIR_DOMAIN_SHUTDOWN, "in shutdown"}, {VIR_DOMAIN_SHUTOFF, "shut off"},
    {VIR_DOMAIN_CRASHED, "crashed"},    {VIR_DOMAIN_PMSUSPENDED, "pmsuspended"},
};

// Long explanations go under the table as numbered notes, so the table stays readable.
class Notes {
 public:
  std::string add(std::string text) {
    notes_.push_back(std::move(text));
    return "[" + std::to_string(notes_.size()) + "]";
  }
  std::string render() const {
    std::string out;
    for (std::size_t i = 0; i < notes_.size(); ++i) {
      out += "[" + std::to_string(i + 1) + "] " + notes_[i] + "\n";
    }
    return out;
  }

 private:
  std::vector<std::string> notes_;
};

std::string channel_text(const DomainListing& d, Notes& notes) {
  if (!d.problem.empty()) return "? " + notes.add(d.info.name + ": " + d.problem);
  if (d.info.channel_path) return *d.info.channel_path;
  if (!d.info.channel_problem.empty()) return "unusable " + notes.add(d.info.channel_problem);
  return "none";
}

std::string vsock_text(const DomainXmlInfo& info) {
  if (info.vsock_cid) return std::to_string(*info.vsock_cid);
  if (info.vsock) return info.vsock_auto ? "auto" : "no CID";
  return "none";
}

std::string threads_text(const DomainListing& d, Notes& notes) {
  if (!d.threads) return "-";
  if (d.threads->threads.empty()) return "? " + notes.add(d.threads->problem);
  std::string text;
  for (const auto& thread : d.threads->threads) {
    if (!text.empty()) text += ",";
    text += std::to_string(thread.vcpu) + ":" + std::to_string(thread.tid);
  }
  return text;
}

}  // namespace

std::string domain_state_name(int state) {
  for (const auto& [value, name] : kStates) {
    if (value == state) return name;
  }
  return "unknown";
}

std::vector<DomainListing> list_domains(virConnectPtr connection, const std::string& channel_name,
                                        const HostPaths& paths) {
  virDomainPtr* domains = nullptr;
  const int count = virConnectListAllDomains(connection, &domains, 0);
  if (count < 0) throw std::runtime_error("cannot list domains: " + libvirt_error());
  std::vector<DomainPtr> owned;
  for (int i = 0; i < count; ++i) owned.emplace_back(domains[i]);
  free(domains);  // NOLINT: allocated by libvirt

  std::vector<DomainListing> listings;
  for (const auto& domain : owned) {
    DomainListing listing;
    int state = VIR_DOMAIN_NOSTATE;
    int reason = 0;
    virDomainGetState(domain.get(), &state, &reason, 0);
    listing.state = domain_state_name(state);
    listing.info.name = virDomainGetName(domain.get());
    LibvirtString xml(virDomainGetXMLDesc(domain.get(), 0));
    try {
      if (!xml) throw std::runtime_error(libvirt_error());
      listing.info = parse_domain_xml(xml.get(), channel_name);
    } catch (const std::exception& bad) {
      listing.problem = std::string("cannot read its XML: ") + bad.what();
    }
    if (virDomainIsActive(domain.get()) == 1 && listing.problem.empty()) {
      listing.threads = resolve_domain_threads(paths, listing.info.name, listing.info.uuid);
    }
    listings.push_back(std::move(listing));
  }
  std::sort(listings.begin(), listings.end(),
            [](const auto& a, const auto& b) { return a.info.name < b.info.name; });
  return listings;
}

std::string format_listing_table(const std::vector<DomainListing>& domains) {
  const std::vector<std::string> headers = {"Name", "UUID", "State", "vCPUs", "Channel",
                                            "vsock CID", "vCPU threads"};
  std::vector<std::vector<std::string>> rows;
  Notes notes;
  for (const auto& d : domains) {
    const auto channel = channel_text(d, notes);
    rows.push_back({d.info.name, d.info.uuid, d.state, std::to_string(d.info.vcpus), channel,
                    vsock_text(d.info), threads_text(d, notes)});
  }
  std::vector<std::size_t> widths(headers.size());
  for (std::size_t c = 0; c < headers.size(); ++c) {
    widths[c] = headers[c].size();
    for (const auto& row : rows) widths[c] = std::max(widths[c], row[c].size());
  }
  // virsh's layout: a leading space, columns padded, a dashed rule under the header.
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (std::size_t c = 0; c < cells.size(); ++c) {
      text += " " + cells[c];
      if (c + 1 < cells.size()) text += std::string(widths[c] - cells[c].size() + 2, ' ');
    }
    return text + "\n";
  };
  std::string out = line(headers);
  std::size_t total = 0;
  for (auto w : widths) total += w + 3;
  out += std::string(total, '-') + "\n";
  for (const auto& row : rows) out += line(row);
  const auto footnotes = notes.render();
  return footnotes.empty() ? out : out + "\n" + footnotes;
}

std::string format_listing_json(const std::vector<DomainListing>& domains) {
  json::array array;
  for (const auto& d : domains) {
    json::object o;
    o["name"] = d.info.name;
    o["uuid"] = d.info.uuid;
    o["state"] = d.state;
    o["vcpus"] = d.info.vcpus;
    o["channel"] = d.info.channel_path ? json::value(*d.info.channel_path) : json::value(nullptr);
    if (!d.info.channel_problem.empty()) o["channel_problem"] = d.info.channel_problem;
    o["vsock"] = d.info.vsock;
    o["vsock_cid"] = d.info.vsock_cid ? json::value(*d.info.vsock_cid) : json::value(nullptr);
    if (d.threads) {
      json::array threads;
      for (const auto& t : d.threads->threads) {
        threads.push_back(json::object{{"vcpu", t.vcpu}, {"tid", t.tid}});
      }
      o["vcpu_threads"] = std::move(threads);
      if (!d.threads->problem.empty()) o["vcpu_threads_problem"] = d.threads->problem;
    }
    if (!d.problem.empty()) o["problem"] = d.problem;
    array.push_back(std::move(o));
  }
  return json::serialize(array) + "\n";
}

}  // namespace perfkvm::host
