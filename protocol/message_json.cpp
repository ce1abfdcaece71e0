#include "protocol/message_json.hpp"

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "protocol/json_fields.hpp"

namespace perfkvm::protocol {
namespace {

namespace json = boost::json;
using json_fields::Object;
using json_fields::Path;
using json_fields::read_array;
using json_fields::read_bool;
using json_fields::read_enum;
using json_fields::read_string;
using json_fields::read_u32;
using json_fields::read_u64;

// Columns: at most every event in every scope of mode "both".
constexpr std::size_t kMaxColumns = 2 * kMaxEventsPerRequest;
constexpr std::size_t kMaxCatalogueSize = 1024;

json::string_view sv(std::string_view s) { return {s.data(), s.size()}; }

// ---- writing ---------------------------------------------------------------------------

json::object& begin_message(json::value& jv, std::string_view type, const std::string& nonce,
                            std::size_t fields) {
  auto& object = jv.emplace_object();
  object.reserve(fields + 2);
  object.emplace("type", sv(type));
  object.emplace("nonce", nonce);
  return object;
}

json::value write_event_status(const EventStatus& event, json::storage_ptr sp) {
  json::object o(sp);
  o.reserve(4);
  o.emplace("name", event.name);
  o.emplace("kind", sv(to_string(event.kind)));
  o.emplace("status", sv(to_string(event.status)));
  if (!event.reason.empty()) o.emplace("reason", event.reason);
  return o;
}

json::array write_event_statuses(const std::vector<EventStatus>& events, json::storage_ptr sp) {
  json::array array(sp);
  array.reserve(events.size());
  for (const auto& event : events) array.push_back(write_event_status(event, sp));
  return array;
}

json::array write_columns(const std::vector<Column>& columns, json::storage_ptr sp) {
  json::array array(sp);
  array.reserve(columns.size());
  for (const auto& column : columns) {
    json::object o(sp);
    o.reserve(4);
    o.emplace("event", column.event);
    o.emplace("scope", sv(to_string(column.scope)));
    o.emplace("status", sv(to_string(column.status)));
    if (!column.reason.empty()) o.emplace("reason", column.reason);
    array.push_back(std::move(o));
  }
  return array;
}

json::array write_cells(const std::vector<Cell>& cells, json::storage_ptr sp) {
  json::array array(cells.size(), sp);  // nulls, filled in place: no temporaries to move
  for (std::size_t i = 0; i < cells.size(); ++i) {
    if (!cells[i]) continue;
    auto& triple = array[i].emplace_array();
    triple.resize(3);
    triple[0] = cells[i]->value;
    triple[1] = cells[i]->time_enabled;
    triple[2] = cells[i]->time_running;
  }
  return array;
}

json::array write_vcpu_counts(const std::vector<VcpuCounts>& vcpus, json::storage_ptr sp) {
  json::array array(sp);
  array.reserve(vcpus.size());
  for (const auto& vcpu : vcpus) {
    json::object o(sp);
    o.reserve(3);
    o.emplace("vcpu", vcpu.vcpu);
    o.emplace("status", sv(to_string(vcpu.status)));
    o.emplace("counts", write_cells(vcpu.counts, sp));
    array.push_back(std::move(o));
  }
  return array;
}

json::array write_u32s(const std::vector<std::uint32_t>& values, json::storage_ptr sp) {
  json::array array(sp);
  array.reserve(values.size());
  for (auto v : values) array.emplace_back(v);
  return array;
}

// ---- reading ---------------------------------------------------------------------------

std::string read_nonce(const Object& o, bool may_be_empty = false) {
  const Path path = o.path().field("nonce");
  std::string nonce = read_string(o.at("nonce"), path, kMaxNonceLength);
  if ((may_be_empty && nonce.empty()) || is_valid_nonce(nonce)) return nonce;
  json_fields::fail(path, "expected " + std::to_string(kMinNonceLength) + " to " +
                              std::to_string(kMaxNonceLength) + " lowercase hex digits");
}

std::string read_optional_string(const Object& o, std::string_view key, std::size_t max) {
  const auto* value = o.find(key);
  return value ? read_string(*value, o.path().field(key), max) : std::string{};
}

EventStatus read_event_status(const json::value& jv, const Path& path) {
  const Object o(jv, path);
  EventStatus event;
  event.name = read_string(o.at("name"), path.field("name"), kMaxNameLength, 1);
  event.kind = read_enum<EventKind>(o.at("kind"), path.field("kind"));
  event.status = read_extensible_enum(o.at("status"), path.field("status"),
                                      Availability::not_supported);
  event.reason = read_optional_string(o, "reason", kMaxMessageLength);
  return event;
}

std::vector<EventStatus> read_event_statuses(const Object& o) {
  return read_array(o.at("events"), o.path().field("events"), 0, kMaxCatalogueSize,
                    read_event_status);
}

Column read_column(const json::value& jv, const Path& path) {
  const Object o(jv, path);
  Column column;
  column.event = read_string(o.at("event"), path.field("event"), kMaxNameLength, 1);
  column.scope = read_enum<Scope>(o.at("scope"), path.field("scope"));
  column.status = read_enum<ColumnStatus>(o.at("status"), path.field("status"));
  column.reason = read_optional_string(o, "reason", kMaxMessageLength);
  return column;
}

std::vector<Column> read_columns(const Object& o) {
  return read_array(o.at("columns"), o.path().field("columns"), 0, kMaxColumns, read_column);
}

Cell read_cell(const json::value& jv, const Path& path) {
  if (jv.is_null()) return std::nullopt;
  const auto* triple = jv.if_array();
  if (!triple || triple->size() != 3) {
    json_fields::fail_expected(path, "null or [value, time_enabled, time_running]", jv);
  }
  return Count{read_u64((*triple)[0], path.item(0)), read_u64((*triple)[1], path.item(1)),
               read_u64((*triple)[2], path.item(2))};
}

std::vector<Cell> read_cells(const json::value& jv, const Path& path) {
  return read_array(jv, path, 0, kMaxColumns, read_cell);
}

std::uint32_t read_vcpu_index(const json::value& jv, const Path& path) {
  return read_u32(jv, path, 0, kMaxVcpus - 1);
}

// vCPU lists name each vCPU at most once.
std::vector<std::uint32_t> read_vcpu_list(const json::value& jv, const Path& path,
                                          std::size_t min) {
  auto vcpus = read_array(jv, path, min, kMaxVcpus, read_vcpu_index);
  auto sorted = vcpus;
  std::sort(sorted.begin(), sorted.end());
  if (auto dup = std::adjacent_find(sorted.begin(), sorted.end()); dup != sorted.end()) {
    json_fields::fail(path, "vCPU " + std::to_string(*dup) + " is listed twice");
  }
  return vcpus;
}

// Per-vCPU rows, each with exactly `columns` cells.
std::vector<VcpuCounts> read_vcpu_counts(const Object& o, std::size_t columns) {
  const Path path = o.path().field("vcpus");
  const auto* value = o.find("vcpus");
  if (!value) return {};
  auto rows = read_array(*value, path, 0, kMaxVcpus, [&](const json::value& jv, const Path& p) {
    const Object row(jv, p);
    VcpuCounts vcpu;
    vcpu.vcpu = read_vcpu_index(row.at("vcpu"), p.field("vcpu"));
    vcpu.status = read_enum<VcpuStatus>(row.at("status"), p.field("status"));
    vcpu.counts = read_cells(row.at("counts"), p.field("counts"));
    if (vcpu.counts.size() != columns) {
      json_fields::fail(p.field("counts"), "expected " + std::to_string(columns) +
                                               " cells (one per column), got " +
                                               std::to_string(vcpu.counts.size()));
    }
    return vcpu;
  });
  return rows;
}

std::optional<std::uint32_t> read_interval(const Object& o) {
  const auto* value = o.find("interval_ms");
  if (!value) return std::nullopt;
  return read_u32(*value, o.path().field("interval_ms"), 1, kMaxIntervalMs);
}

std::uint64_t read_request_id(const Object& o) {
  return read_u64(o.at("request_id"), o.path().field("request_id"));
}

template <class T>
const Path& root() {
  static const Path path{nullptr, T::kType, 0};
  return path;
}

}  // namespace

// ---- hello ---------------------------------------------------------------------------------

void tag_invoke(const json::value_from_tag&, json::value& jv, const Hello& m) {
  auto& o = begin_message(jv, Hello::kType, m.nonce, 4);
  o.emplace("protocol_min", m.protocol_min);
  o.emplace("protocol_max", m.protocol_max);
  o.emplace("agent", m.agent);
  o.emplace("agent_version", m.agent_version);
}

Hello tag_invoke(const json::value_to_tag<Hello>&, const json::value& jv) {
  const Object o(jv, root<Hello>());
  Hello m;
  m.nonce = read_nonce(o);
  m.protocol_min = read_u32(o.at("protocol_min"), o.path().field("protocol_min"), 1, UINT32_MAX);
  m.protocol_max =
      read_u32(o.at("protocol_max"), o.path().field("protocol_max"), m.protocol_min, UINT32_MAX);
  m.agent = read_string(o.at("agent"), o.path().field("agent"), kMaxNameLength);
  m.agent_version = read_optional_string(o, "agent_version", kMaxNameLength);
  return m;
}

// ---- welcome -------------------------------------------------------------------------------

void tag_invoke(const json::value_from_tag&, json::value& jv, const Welcome& m) {
  auto& o = begin_message(jv, Welcome::kType, m.nonce, 8);
  const auto sp = o.storage();
  o.emplace("protocol", m.protocol);
  o.emplace("agent", m.agent);
  o.emplace("agent_version", m.agent_version);
  o.emplace("domain", json::object({{"name", m.domain_name}, {"uuid", m.domain_uuid}}, sp));
  o.emplace("vcpus", m.vcpus);
  o.emplace("events", write_event_statuses(m.events, sp));
  o.emplace("limits", json::object({{"min_interval_ms", m.limits.min_interval_ms},
                                    {"max_events", m.limits.max_events},
                                    {"max_sessions", m.limits.max_sessions},
                                    {"max_frame_bytes", m.limits.max_frame_bytes},
                                    {"lease_ms", m.limits.lease_ms}},
                                   sp));
}

Welcome tag_invoke(const json::value_to_tag<Welcome>&, const json::value& jv) {
  const Object o(jv, root<Welcome>());
  Welcome m;
  m.nonce = read_nonce(o);
  m.protocol = read_u32(o.at("protocol"), o.path().field("protocol"), 1, UINT32_MAX);
  m.agent = read_string(o.at("agent"), o.path().field("agent"), kMaxNameLength);
  m.agent_version = read_optional_string(o, "agent_version", kMaxNameLength);
  const Path domain_path = o.path().field("domain");
  const Object domain(o.at("domain"), domain_path);
  m.domain_name = read_string(domain.at("name"), domain_path.field("name"), kMaxNameLength);
  m.domain_uuid = read_string(domain.at("uuid"), domain_path.field("uuid"), kMaxNameLength);
  m.vcpus = read_u32(o.at("vcpus"), o.path().field("vcpus"), 0, kMaxVcpus);
  m.events = read_event_statuses(o);
  const Path limits_path = o.path().field("limits");
  const Object limits(o.at("limits"), limits_path);
  auto limit = [&](std::string_view key, std::uint32_t min) {
    return read_u32(limits.at(key), limits_path.field(key), min, UINT32_MAX);
  };
  m.limits.min_interval_ms = limit("min_interval_ms", 1);
  m.limits.max_events = limit("max_events", 1);
  m.limits.max_sessions = limit("max_sessions", 1);
  m.limits.max_frame_bytes = limit("max_frame_bytes", 2);
  m.limits.lease_ms = limit("lease_ms", 1);
  return m;
}

// ---- start ---------------------------------------------------------------------------------

void tag_invoke(const json::value_from_tag&, json::value& jv, const Start& m) {
  auto& o = begin_message(jv, Start::kType, m.nonce, 6);
  const auto sp = o.storage();
  o.emplace("request_id", m.request_id);
  json::array events(sp);
  for (const auto& event : m.events) events.emplace_back(event);
  o.emplace("events", std::move(events));
  if (m.interval_ms) o.emplace("interval_ms", *m.interval_ms);
  if (m.vcpus) o.emplace("vcpus", write_u32s(*m.vcpus, sp));
  o.emplace("per_vcpu", m.per_vcpu);
  o.emplace("mode", sv(to_string(m.mode)));
}

Start tag_invoke(const json::value_to_tag<Start>&, const json::value& jv) {
  const Object o(jv, root<Start>());
  Start m;
  m.nonce = read_nonce(o);
  m.request_id = read_request_id(o);
  m.events = read_array(o.at("events"), o.path().field("events"), 1, kMaxEventsPerRequest,
                        [](const json::value& v, const Path& p) {
                          return read_string(v, p, kMaxNameLength, 1);
                        });
  m.interval_ms = read_interval(o);
  if (const auto* vcpus = o.find("vcpus")) {
    m.vcpus = read_vcpu_list(*vcpus, o.path().field("vcpus"), 1);
  }
  if (const auto* per_vcpu = o.find("per_vcpu")) {
    m.per_vcpu = read_bool(*per_vcpu, o.path().field("per_vcpu"));
  }
  if (const auto* mode = o.find("mode")) m.mode = read_enum<StartMode>(*mode, o.path().field("mode"));
  return m;
}

// ---- started -------------------------------------------------------------------------------

void tag_invoke(const json::value_from_tag&, json::value& jv, const Started& m) {
  auto& o = begin_message(jv, Started::kType, m.nonce, 4);
  const auto sp = o.storage();
  o.emplace("request_id", m.request_id);
  o.emplace("columns", write_columns(m.columns, sp));
  o.emplace("vcpus", write_u32s(m.vcpus, sp));
  if (m.interval_ms) o.emplace("interval_ms", *m.interval_ms);
}

Started tag_invoke(const json::value_to_tag<Started>&, const json::value& jv) {
  const Object o(jv, root<Started>());
  Started m;
  m.nonce = read_nonce(o);
  m.request_id = read_request_id(o);
  m.columns = read_columns(o);
  m.vcpus = read_vcpu_list(o.at("vcpus"), o.path().field("vcpus"), 0);
  m.interval_ms = read_interval(o);
  return m;
}

// ---- sample --------------------------------------------------------------------------------

void tag_invoke(const json::value_from_tag&, json::value& jv, const Sample& m) {
  auto& o = begin_message(jv, Sample::kType, m.nonce, 6);
  const auto sp = o.storage();
  o.emplace("request_id", m.request_id);
  o.emplace("seq", m.seq);
  o.emplace("elapsed_ns", m.elapsed_ns);
  o.emplace("host_time_ns", m.host_time_ns);
  o.emplace("totals", write_cells(m.totals, sp));
  if (!m.vcpus.empty()) o.emplace("vcpus", write_vcpu_counts(m.vcpus, sp));
  if (m.read_id) o.emplace("read_id", *m.read_id);
}

Sample tag_invoke(const json::value_to_tag<Sample>&, const json::value& jv) {
  const Object o(jv, root<Sample>());
  Sample m;
  m.nonce = read_nonce(o);
  m.request_id = read_request_id(o);
  m.seq = read_u64(o.at("seq"), o.path().field("seq"));
  m.elapsed_ns = read_u64(o.at("elapsed_ns"), o.path().field("elapsed_ns"));
  m.host_time_ns = read_u64(o.at("host_time_ns"), o.path().field("host_time_ns"));
  m.totals = read_cells(o.at("totals"), o.path().field("totals"));
  m.vcpus = read_vcpu_counts(o, m.totals.size());
  if (const auto* id = o.find("read_id")) m.read_id = read_u64(*id, o.path().field("read_id"));
  return m;
}

// ---- read ----------------------------------------------------------------------------------

void tag_invoke(const json::value_from_tag&, json::value& jv, const Read& m) {
  auto& o = begin_message(jv, Read::kType, m.nonce, 2);
  o.emplace("request_id", m.request_id);
  o.emplace("read_id", m.read_id);
}

Read tag_invoke(const json::value_to_tag<Read>&, const json::value& jv) {
  const Object o(jv, root<Read>());
  return Read{read_nonce(o), read_request_id(o), read_u64(o.at("read_id"), o.path().field("read_id"))};
}

// ---- stop ----------------------------------------------------------------------------------

void tag_invoke(const json::value_from_tag&, json::value& jv, const Stop& m) {
  auto& o = begin_message(jv, Stop::kType, m.nonce, 1);
  o.emplace("request_id", m.request_id);
}

Stop tag_invoke(const json::value_to_tag<Stop>&, const json::value& jv) {
  const Object o(jv, root<Stop>());
  return Stop{read_nonce(o), read_request_id(o)};
}

// ---- report --------------------------------------------------------------------------------

void tag_invoke(const json::value_from_tag&, json::value& jv, const Report& m) {
  auto& o = begin_message(jv, Report::kType, m.nonce, 8);
  const auto sp = o.storage();
  o.emplace("request_id", m.request_id);
  o.emplace("reason", sv(to_string(m.reason)));
  o.emplace("duration_ns", m.duration_ns);
  o.emplace("samples_sent", m.samples_sent);
  o.emplace("samples_dropped", m.samples_dropped);
  o.emplace("columns", write_columns(m.columns, sp));
  o.emplace("totals", write_cells(m.totals, sp));
  if (!m.vcpus.empty()) o.emplace("vcpus", write_vcpu_counts(m.vcpus, sp));
}

Report tag_invoke(const json::value_to_tag<Report>&, const json::value& jv) {
  const Object o(jv, root<Report>());
  Report m;
  m.nonce = read_nonce(o);
  m.request_id = read_request_id(o);
  m.reason = read_enum<EndReason>(o.at("reason"), o.path().field("reason"));
  m.duration_ns = read_u64(o.at("duration_ns"), o.path().field("duration_ns"));
  m.samples_sent = read_u64(o.at("samples_sent"), o.path().field("samples_sent"));
  m.samples_dropped = read_u64(o.at("samples_dropped"), o.path().field("samples_dropped"));
  m.columns = read_columns(o);
  m.totals = read_cells(o.at("totals"), o.path().field("totals"));
  if (m.totals.size() != m.columns.size()) {
    json_fields::fail(o.path().field("totals"),
                      "expected " + std::to_string(m.columns.size()) +
                          " cells (one per column), got " + std::to_string(m.totals.size()));
  }
  m.vcpus = read_vcpu_counts(o, m.columns.size());
  return m;
}

// ---- keepalive, list-events, events ---------------------------------------------------------

void tag_invoke(const json::value_from_tag&, json::value& jv, const Keepalive& m) {
  begin_message(jv, Keepalive::kType, m.nonce, 0);
}

Keepalive tag_invoke(const json::value_to_tag<Keepalive>&, const json::value& jv) {
  return Keepalive{read_nonce(Object(jv, root<Keepalive>()))};
}

void tag_invoke(const json::value_from_tag&, json::value& jv, const ListEvents& m) {
  begin_message(jv, ListEvents::kType, m.nonce, 0);
}

ListEvents tag_invoke(const json::value_to_tag<ListEvents>&, const json::value& jv) {
  return ListEvents{read_nonce(Object(jv, root<ListEvents>()))};
}

void tag_invoke(const json::value_from_tag&, json::value& jv, const Events& m) {
  auto& o = begin_message(jv, Events::kType, m.nonce, 1);
  o.emplace("events", write_event_statuses(m.events, o.storage()));
}

Events tag_invoke(const json::value_to_tag<Events>&, const json::value& jv) {
  const Object o(jv, root<Events>());
  Events m;
  m.nonce = read_nonce(o);
  m.events = read_event_statuses(o);
  return m;
}

// ---- error ---------------------------------------------------------------------------------

void tag_invoke(const json::value_from_tag&, json::value& jv, const Error& m) {
  auto& o = begin_message(jv, Error::kType, m.nonce, 4);
  if (m.request_id) o.emplace("request_id", *m.request_id);
  o.emplace("code", sv(to_string(m.code)));
  o.emplace("message", m.message);
  if (m.retry_after_ms) o.emplace("retry_after_ms", *m.retry_after_ms);
}

Error tag_invoke(const json::value_to_tag<Error>&, const json::value& jv) {
  const Object o(jv, root<Error>());
  Error m;
  m.nonce = read_nonce(o, /*may_be_empty=*/true);
  if (const auto* id = o.find("request_id")) {
    m.request_id = read_u64(*id, o.path().field("request_id"));
  }
  const auto& code = o.at("code");
  m.code = read_extensible_enum(code, o.path().field("code"), ErrorCode::internal);
  m.message = read_string(o.at("message"), o.path().field("message"), kMaxMessageLength);
  if (m.code == ErrorCode::internal && code.as_string() != to_string(ErrorCode::internal)) {
    // A code this side does not know: still an error, and the name is kept for the user.
    const std::string name = read_string(code, o.path().field("code"), kMaxNameLength, 1);
    m.message = "[" + name + "] " + m.message;
  }
  if (const auto* retry = o.find("retry_after_ms")) {
    m.retry_after_ms = read_u32(*retry, o.path().field("retry_after_ms"), 1, kMaxIntervalMs);
  }
  return m;
}

}  // namespace perfkvm::protocol
