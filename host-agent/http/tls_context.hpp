// The server's TLS settings in one OpenSSL context: TLS 1.2 or later, no renegotiation, the
// certificate chain and its key; with a client CA, a client certificate signed by it is
// required and verified (mutual TLS).
#pragma once

#include <boost/asio/ssl/context.hpp>

#include "host-agent/http/server_options.hpp"

namespace perfkvm::host::http {

// Throws std::runtime_error naming the file and what is wrong with it ("TLS key file
// '/etc/x.key': cannot be read: No such file or directory", "... does not match ...").
boost::asio::ssl::context make_server_tls_context(const TlsFiles& files);

}  // namespace perfkvm::host::http
