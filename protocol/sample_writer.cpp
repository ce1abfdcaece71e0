#include "protocol/sample_writer.hpp"

#include <charconv>

namespace perfkvm::protocol {
namespace {

// Characters Boost.JSON's serializer writes as they are: no escaping needed. A nonce is hex
// in practice (PROTOCOL.md), but it comes from the guest, so anything else takes the tree path.
bool plain(std::string_view text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7f || c == '"' || c == '\\') return false;
  }
  return true;
}

void append_u64(std::string& out, std::uint64_t value) {
  char digits[20];
  const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  out.append(digits, end);
}

void append_cells(std::string& out, const std::vector<Cell>& cells) {
  out += '[';
  for (std::size_t i = 0; i < cells.size(); ++i) {
    if (i) out += ',';
    if (!cells[i]) {
      out += "null";
      continue;
    }
    out += '[';
    append_u64(out, cells[i]->value);
    out += ',';
    append_u64(out, cells[i]->time_enabled);
    out += ',';
    append_u64(out, cells[i]->time_running);
    out += ']';
  }
  out += ']';
}

}  // namespace

bool append_sample_json(const Sample& sample, std::string& out) {
  if (!plain(sample.nonce)) return false;
  // Room for the usual case up front (a cell is at most 3 x 20 digits and punctuation), so
  // the appends below do not grow the string step by step.
  std::size_t cells = sample.totals.size();
  for (const auto& row : sample.vcpus) cells += row.counts.size() + 1;
  out.reserve(out.size() + 160 + sample.nonce.size() + 48 * cells);
  // The field order of message_json.cpp's writer: type, nonce, then the sample's fields.
  out += "{\"type\":\"";
  out += Sample::kType;
  out += "\",\"nonce\":\"";
  out += sample.nonce;
  out += "\",\"request_id\":";
  append_u64(out, sample.request_id);
  out += ",\"seq\":";
  append_u64(out, sample.seq);
  out += ",\"elapsed_ns\":";
  append_u64(out, sample.elapsed_ns);
  out += ",\"host_time_ns\":";
  append_u64(out, sample.host_time_ns);
  out += ",\"totals\":";
  append_cells(out, sample.totals);
  if (!sample.vcpus.empty()) {
    out += ",\"vcpus\":[";
    for (std::size_t i = 0; i < sample.vcpus.size(); ++i) {
      const auto& row = sample.vcpus[i];
      if (i) out += ',';
      out += "{\"vcpu\":";
      append_u64(out, row.vcpu);
      out += ",\"status\":\"";
      out += to_string(row.status);
      out += "\",\"counts\":";
      append_cells(out, row.counts);
      out += '}';
    }
    out += ']';
  }
  if (sample.read_id) {
    out += ",\"read_id\":";
    append_u64(out, *sample.read_id);
  }
  out += '}';
  return true;
}

}  // namespace perfkvm::protocol
