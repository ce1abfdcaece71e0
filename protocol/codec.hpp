// Untrusted payload -> Message, and Message -> payload/frame. parse_message never throws:
// whatever arrives, the result is a Message or a ParseError saying exactly what was wrong.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "protocol/frame.hpp"
#include "protocol/messages.hpp"

namespace perfkvm::protocol {

struct ParseError {
  ErrorCode code = ErrorCode::invalid_message;  // invalid-json, invalid-message or unknown-type
  std::string message;
  // Picked out of the payload when readable, so a reply can be addressed to the sender.
  std::string nonce;
  std::optional<std::uint64_t> request_id;
  // The payload's "type" when it was a string, so that a peer never answers an error with
  // an error (which could ping-pong forever).
  std::string type;
  bool operator==(const ParseError&) const = default;
};

using ParseResult = std::variant<Message, ParseError>;

// Parses one frame payload. Nesting deeper than 16 levels is rejected as invalid JSON.
ParseResult parse_message(std::string_view payload);

// The message as a JSON object with its "type" field.
boost::json::value to_json(const Message& message);
std::string serialize_message(const Message& message);

// serialize_message + encode_frame. Throws std::invalid_argument if the message does not fit
// in max_payload (callers size their messages; see Limits::max_frame_bytes).
std::string encode_message(const Message& message, std::size_t max_payload = kDefaultMaxPayload);

// An Error reply to a payload that could not be parsed, addressed as well as it can be.
Error error_reply(const ParseError& error);

// True if the message belongs to the session with this nonce (stale frames do not).
bool belongs_to_session(const Message& message, std::string_view nonce);

}  // namespace perfkvm::protocol
