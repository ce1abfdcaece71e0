// Strict readers for untrusted JSON: every check says exactly which field is wrong and what
// it held ("start.vcpus[2]: expected an integer from 0 to 4095, got string \"x\"").
// They throw ProtocolViolation; parse_message() turns that into an error value.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/enum_strings.hpp"
#include "protocol/messages.hpp"

namespace perfkvm::protocol {

class ProtocolViolation : public std::runtime_error {
 public:
  ProtocolViolation(ErrorCode code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

namespace json_fields {

// Where a value sits in a message, rendered only when something is wrong with it, so the
// happy path builds no strings.
struct Path {
  const Path* parent = nullptr;
  std::string_view key;  // a field name; empty for an array element
  std::size_t index = 0;

  Path field(std::string_view name) const { return {this, name, 0}; }
  Path item(std::size_t i) const { return {this, {}, i}; }
  std::string str() const;
};

// `string "abc"`, `number -1`, `null`, `an object`...: what a bad value was, for messages.
std::string describe(const boost::json::value& value);

[[noreturn]] void fail(const Path& path, std::string_view problem);
[[noreturn]] void fail_expected(const Path& path, std::string_view expected,
                                const boost::json::value& got);

std::uint64_t read_u64(const boost::json::value& value, const Path& path);
std::uint32_t read_u32(const boost::json::value& value, const Path& path, std::uint32_t min,
                       std::uint32_t max);
bool read_bool(const boost::json::value& value, const Path& path);
std::string read_string(const boost::json::value& value, const Path& path,
                        std::size_t max_length, std::size_t min_length = 0);

template <WireEnum E>
E read_enum(const boost::json::value& value, const Path& path) {
  if (const auto* text = value.if_string()) {
    if (auto parsed = enum_from_string<E>(std::string_view(*text))) return *parsed;
  }
  fail_expected(path, "one of " + enum_choices<E>(), value);
}

// For enums a later host may extend (PROTOCOL.md §7): a string that names no value reads as
// `unknown`, so that an older peer still understands the message; a non-string is an error.
template <WireEnum E>
E read_extensible_enum(const boost::json::value& value, const Path& path, E unknown) {
  if (const auto* text = value.if_string()) {
    return enum_from_string<E>(std::string_view(*text)).value_or(unknown);
  }
  fail_expected(path, "one of " + enum_choices<E>(), value);
}

// An array of `min`..`max` elements, each read by `read_item(element, path)`.
template <class ReadItem>
auto read_array(const boost::json::value& value, const Path& path, std::size_t min,
                std::size_t max, ReadItem&& read_item) {
  using Item = decltype(read_item(value, path));
  const auto* array = value.if_array();
  if (!array) fail_expected(path, "an array", value);
  if (array->size() < min || array->size() > max) {
    fail(path, "expected " + std::to_string(min) + " to " + std::to_string(max) +
                   " elements, got " + std::to_string(array->size()));
  }
  std::vector<Item> items;
  items.reserve(array->size());
  for (std::size_t i = 0; i < array->size(); ++i) items.push_back(read_item((*array)[i], path.item(i)));
  return items;
}

// A JSON object whose fields are looked up by name; unknown fields are ignored.
class Object {
 public:
  Object(const boost::json::value& value, const Path& path);

  const Path& path() const { return path_; }
  // Absent and null both mean "not given".
  const boost::json::value* find(std::string_view key) const;
  // Throws "missing field" when absent or null.
  const boost::json::value& at(std::string_view key) const;

 private:
  const boost::json::object* object_;
  Path path_;
};

}  // namespace json_fields
}  // namespace perfkvm::protocol
