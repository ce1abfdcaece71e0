// The sample frame written straight to text: samples are the one message sent many times a
// second, and building a JSON tree for each cost more than reading the counters. The text is
// byte for byte what the tree would serialize to (tests/unit/protocol/sample_writer_test.cpp
// holds the two against each other); every other message goes through the tree.
#pragma once

#include <string>

#include "protocol/messages.hpp"

namespace perfkvm::protocol {

// Appends the sample's JSON payload to `out` and returns true; returns false (appending
// nothing) when a string field needs JSON escaping, which the tree path then handles.
bool append_sample_json(const Sample& sample, std::string& out);

}  // namespace perfkvm::protocol
