#include "protocol/codec.hpp"

#include <algorithm>
#include <array>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parser.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/serializer.hpp>
#include <functional>

#include "protocol/json_fields.hpp"
#include "protocol/message_json.hpp"
#include "protocol/sample_writer.hpp"

namespace perfkvm::protocol {
namespace {

namespace json = boost::json;

constexpr std::size_t kMaxDepth = 16;
constexpr std::size_t kArenaBytes = 16 * 1024;

// Builds the message's JSON tree in `arena`.
json::value build_tree(const Message& message, json::monotonic_resource& arena) {
  return std::visit(
      [&](const auto& m) { return json::value_from(m, json::storage_ptr(&arena)); }, message);
}

using Reader = Message (*)(const json::value&);

template <class T>
Message read_as(const json::value& jv) {
  return json::value_to<T>(jv);
}

struct TypeEntry {
  std::string_view name;
  Reader read;
};

// The message types by wire name, derived from the Message alternatives.
template <std::size_t... I>
constexpr auto make_type_table(std::index_sequence<I...>) {
  return std::array<TypeEntry, sizeof...(I)>{
      TypeEntry{std::variant_alternative_t<I, Message>::kType,
                &read_as<std::variant_alternative_t<I, Message>>}...};
}

constexpr auto kTypes = make_type_table(std::make_index_sequence<std::variant_size_v<Message>>{});

const TypeEntry* find_type(std::string_view name) {
  for (const auto& entry : kTypes) {
    if (entry.name == name) return &entry;
  }
  return nullptr;
}

// Best effort: the sender's nonce and request id, to address an error reply.
void pick_address(const json::object& object, ParseError& error) {
  if (const auto* nonce = object.if_contains("nonce"); nonce && nonce->is_string()) {
    const std::string_view text(nonce->get_string());
    if (is_valid_nonce(text)) error.nonce = std::string(text);
  }
  if (const auto* id = object.if_contains("request_id")) {
    if (id->is_uint64()) error.request_id = id->get_uint64();
    if (id->is_int64() && id->get_int64() >= 0) {
      error.request_id = static_cast<std::uint64_t>(id->get_int64());
    }
  }
}

}  // namespace

ParseResult parse_message(std::string_view payload) {
  // The tree lives only for this call: a monotonic arena makes parsing allocation-light,
  // and the parser (with its internal stack) is reused from call to call.
  static thread_local json::parser parser({}, [] {
    json::parse_options options;
    options.max_depth = kMaxDepth;
    return options;
  }());
  std::array<unsigned char, kArenaBytes> initial_buffer;
  json::monotonic_resource arena(initial_buffer.data(), initial_buffer.size());
  parser.reset(&arena);
  boost::system::error_code ec;
  parser.write(payload.data(), payload.size(), ec);
  const json::value root = ec ? json::value() : parser.release();
  parser.reset();
  if (ec) {
    return ParseError{ErrorCode::invalid_json, "payload is not valid JSON: " + ec.message(), {}, {}, {}};
  }
  const auto* object = root.if_object();
  if (!object) {
    return ParseError{ErrorCode::invalid_message,
                      "payload must be a JSON object, got " + json_fields::describe(root), {}, {}, {}};
  }
  ParseError error;
  pick_address(*object, error);
  const auto* type = object->if_contains("type");
  if (!type || !type->is_string()) {
    error.code = ErrorCode::invalid_message;
    error.message = type ? "type: expected a string, got " + json_fields::describe(*type)
                         : "type: missing field";
    return error;
  }
  const std::string_view type_name(type->get_string());
  if (type_name.size() <= kMaxNameLength) error.type = std::string(type_name);
  const auto* entry = find_type(type_name);
  if (!entry) {
    error.code = ErrorCode::unknown_type;
    error.message = "unknown message type " + json::serialize(*type);
    return error;
  }
  try {
    return entry->read(root);
  } catch (const ProtocolViolation& violation) {
    error.code = violation.code();
    error.message = violation.what();
  } catch (const std::exception& unexpected) {
    error.code = ErrorCode::invalid_message;
    error.message = std::string(type_name) + ": " + unexpected.what();
  }
  return error;
}

json::value to_json(const Message& message) {
  return std::visit([](const auto& m) { return json::value_from(m); }, message);
}

std::string serialize_message(const Message& message) {
  std::array<unsigned char, kArenaBytes> initial_buffer;
  json::monotonic_resource arena(initial_buffer.data(), initial_buffer.size());
  return json::serialize(build_tree(message, arena));
}

std::string encode_message(const Message& message, std::size_t max_payload) {
  if (const auto* sample = std::get_if<Sample>(&message)) {
    std::string frame(kHeaderSize, '\0');
    if (append_sample_json(*sample, frame)) {
      seal_frame(frame, max_payload);
      return frame;
    }
  }
  std::array<unsigned char, kArenaBytes> initial_buffer;
  json::monotonic_resource arena(initial_buffer.data(), initial_buffer.size());
  const json::value tree = build_tree(message, arena);
  // Serialized in chunks through a stack buffer and appended after room for the header:
  // growing the frame itself with resize() would zero-fill kilobytes for every small sample
  // (measured: a fifth of the sampling path's instructions).
  std::string frame(kHeaderSize, '\0');
  json::serializer serializer;
  serializer.reset(&tree);
  std::array<char, 4096> chunk;
  while (!serializer.done()) {
    const auto written = serializer.read(chunk.data(), chunk.size());
    frame.append(written.data(), written.size());
  }
  seal_frame(frame, max_payload);
  return frame;
}

Error error_reply(const ParseError& error) {
  return Error{error.nonce, error.request_id, error.code, error.message, std::nullopt};
}

std::string_view type_name(const Message& message) {
  return std::visit([](const auto& m) { return std::decay_t<decltype(m)>::kType; }, message);
}

const std::string& nonce_of(const Message& message) {
  return std::visit([](const auto& m) -> const std::string& { return m.nonce; }, message);
}

bool is_valid_nonce(std::string_view nonce) {
  return nonce.size() >= kMinNonceLength && nonce.size() <= kMaxNonceLength &&
         std::all_of(nonce.begin(), nonce.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool belongs_to_session(const Message& message, std::string_view nonce) {
  return !nonce.empty() && nonce_of(message) == nonce;
}

}  // namespace perfkvm::protocol
