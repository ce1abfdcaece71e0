// String tables for enums, as libvirt does with VIR_ENUM_IMPL: each enum lists its wire
// names once, and to_string/from_string are derived from that list.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace perfkvm::protocol {

// Specialise with `static constexpr std::pair<E, std::string_view> table[] = {...};`.
template <class E>
struct EnumStrings;

template <class E>
concept WireEnum = requires { EnumStrings<E>::table; };

template <WireEnum E>
constexpr std::string_view to_string(E value) {
  for (const auto& [item, name] : EnumStrings<E>::table) {
    if (item == value) return name;
  }
  return "?";
}

template <WireEnum E>
constexpr std::optional<E> enum_from_string(std::string_view name) {
  for (const auto& [item, item_name] : EnumStrings<E>::table) {
    if (item_name == name) return item;
  }
  return std::nullopt;
}

// "a", "b" or "c" — for error messages that list the accepted values.
template <WireEnum E>
std::string enum_choices() {
  std::string out;
  const auto& table = EnumStrings<E>::table;
  const std::size_t count = std::size(table);
  for (std::size_t i = 0; i < count; ++i) {
    if (i > 0) out += (i + 1 == count) ? " or " : ", ";
    out += '"';
    out += table[i].second;
    out += '"';
  }
  return out;
}

}  // namespace perfkvm::protocol
