// Content coding: whether a client takes gzip, and the gzip encoding of a body (zlib).
// Prometheus asks for gzip on every scrape; exposition text shrinks ten-fold or more.
#pragma once

#include <string>
#include <string_view>

namespace perfkvm::host::http {

// Whether an Accept-Encoding value (several headers joined by ", ") accepts gzip: a "gzip"
// (or "x-gzip") coding with q > 0, or failing that a "*" with q > 0. Codings are
// case-insensitive; an element with a malformed q counts as not accepting.
bool accepts_gzip(std::string_view accept_encoding);

// `data` as one gzip member (RFC 1952). Throws std::runtime_error if zlib fails (no memory).
std::string gzip_compress(std::string_view data);

}  // namespace perfkvm::host::http
