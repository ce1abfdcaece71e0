// Boost.JSON conversions of the message structs (found by value_from/value_to through ADL).
// value_to<T> validates strictly and throws ProtocolViolation (json_fields.hpp) naming the
// offending field; use parse_message() (codec.hpp) for untrusted input, it never throws.
#pragma once

#include <boost/json/value.hpp>
#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>

#include "protocol/messages.hpp"

namespace perfkvm::protocol {

#define PERFKVM_JSON_CONVERSIONS(T)                                                  \
  void tag_invoke(const boost::json::value_from_tag&, boost::json::value& jv, const T& m); \
  T tag_invoke(const boost::json::value_to_tag<T>&, const boost::json::value& jv);

PERFKVM_JSON_CONVERSIONS(Hello)
PERFKVM_JSON_CONVERSIONS(Welcome)
PERFKVM_JSON_CONVERSIONS(Start)
PERFKVM_JSON_CONVERSIONS(Started)
PERFKVM_JSON_CONVERSIONS(Sample)
PERFKVM_JSON_CONVERSIONS(Stop)
PERFKVM_JSON_CONVERSIONS(Read)
PERFKVM_JSON_CONVERSIONS(Report)
PERFKVM_JSON_CONVERSIONS(Keepalive)
PERFKVM_JSON_CONVERSIONS(ListEvents)
PERFKVM_JSON_CONVERSIONS(Events)
PERFKVM_JSON_CONVERSIONS(Error)

#undef PERFKVM_JSON_CONVERSIONS

}  // namespace perfkvm::protocol
