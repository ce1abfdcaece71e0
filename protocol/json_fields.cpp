#include "protocol/json_fields.hpp"

#include <boost/json/serialize.hpp>

namespace perfkvm::protocol::json_fields {

namespace json = boost::json;

std::string Path::str() const {
  std::string prefix = parent ? parent->str() : std::string{};
  if (key.empty()) return prefix + "[" + std::to_string(index) + "]";
  if (prefix.empty()) return std::string(key);
  return prefix + "." + std::string(key);
}

std::string describe(const json::value& value) {
  constexpr std::size_t kMaxShown = 40;
  auto shown = [&](std::string text) {
    if (text.size() <= kMaxShown) return text;
    // Cut on a UTF-8 character boundary: the message itself must stay valid UTF-8.
    std::size_t cut = kMaxShown;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    text = text.substr(0, cut) + "...";
    return text;
  };
  switch (value.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return value.get_bool() ? "true" : "false";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_:
      return "number " + shown(json::serialize(value));
    case json::kind::string:
      return "string " + shown(json::serialize(value));
    case json::kind::array:
      return "an array";
    case json::kind::object:
      return "an object";
  }
  return "?";
}

void fail(const Path& path, std::string_view problem) {
  throw ProtocolViolation(ErrorCode::invalid_message, path.str() + ": " + std::string(problem));
}

void fail_expected(const Path& path, std::string_view expected, const json::value& got) {
  fail(path, "expected " + std::string(expected) + ", got " + describe(got));
}

std::uint64_t read_u64(const json::value& value, const Path& path) {
  if (const auto* u = value.if_uint64()) return *u;
  if (const auto* i = value.if_int64(); i && *i >= 0) return static_cast<std::uint64_t>(*i);
  fail_expected(path, "an unsigned integer", value);
}

std::uint32_t read_u32(const json::value& value, const Path& path, std::uint32_t min,
                       std::uint32_t max) {
  std::optional<std::uint64_t> number;
  if (const auto* u = value.if_uint64()) number = *u;
  if (const auto* i = value.if_int64(); i && *i >= 0) number = static_cast<std::uint64_t>(*i);
  if (!number || *number < min || *number > max) {
    fail_expected(path, "an integer from " + std::to_string(min) + " to " + std::to_string(max),
                  value);
  }
  return static_cast<std::uint32_t>(*number);
}

bool read_bool(const json::value& value, const Path& path) {
  if (const auto* b = value.if_bool()) return *b;
  fail_expected(path, "true or false", value);
}

std::string read_string(const json::value& value, const Path& path, std::size_t max_length,
                        std::size_t min_length) {
  const auto* text = value.if_string();
  if (!text) fail_expected(path, "a string", value);
  if (text->size() > max_length || text->size() < min_length) {
    fail(path, "expected a string of " + std::to_string(min_length) + " to " +
                   std::to_string(max_length) + " bytes, got " + std::to_string(text->size()));
  }
  return std::string(*text);
}

Object::Object(const json::value& value, const Path& path) : object_(value.if_object()), path_(path) {
  if (!object_) fail_expected(path, "an object", value);
}

const json::value* Object::find(std::string_view key) const {
  const auto* found = object_->if_contains(key);
  return (found && !found->is_null()) ? found : nullptr;
}

const json::value& Object::at(std::string_view key) const {
  if (const auto* found = find(key)) return *found;
  fail(path_.field(key), "missing field");
}

}  // namespace perfkvm::protocol::json_fields
