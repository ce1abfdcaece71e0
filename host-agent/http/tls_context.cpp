#include "host-agent/http/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/ssl/error.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>

#include "util/printable.hpp"

namespace perfkvm::host::http {

namespace ssl = boost::asio::ssl;

namespace {

// Resumed sessions need an id context once client certificates are verified.
constexpr unsigned char kSessionIdContext[] = "perfkvm-hostd";

[[noreturn]] void fail(std::string_view what, const std::string& path, const std::string& why) {
  ERR_clear_error();  // what OpenSSL queued is in `why`; stale errors would confuse later calls
  throw std::runtime_error("TLS " + std::string(what) + " '" + printable(path, 300) + "': " + why);
}

// Before OpenSSL: its errors for a missing file are less clear than errno's.
void check_readable(std::string_view what, const std::string& path) {
  if (path.empty()) throw std::runtime_error("TLS " + std::string(what) + ": no file given");
  std::ifstream file(path);
  if (!file) fail(what, path, std::string("cannot be read: ") + std::strerror(errno));
}

template <class Load>
void load(std::string_view what, const std::string& path, Load load_file) {
  check_readable(what, path);
  boost::system::error_code ec;
  load_file(ec);
  if (ec) fail(what, path, "cannot be loaded (" + ec.message() + "; is it PEM?)");
}

// Loading a key checks it against the certificate loaded before: say so plainly.
bool is_key_mismatch(const boost::system::error_code& ec) {
  const auto code = static_cast<unsigned long>(ec.value());
  return ec.category() == boost::asio::error::get_ssl_category() &&
         ERR_GET_LIB(code) == ERR_LIB_X509 && ERR_GET_REASON(code) == X509_R_KEY_VALUES_MISMATCH;
}

}  // namespace

ssl::context make_server_tls_context(const TlsFiles& files) {
  ssl::context context(ssl::context::tls_server);
  SSL_CTX* native = context.native_handle();
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1) {
    throw std::runtime_error("TLS: cannot require TLS 1.2 or later");
  }
  context.set_options(ssl::context::default_workarounds | ssl::context::single_dh_use);
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                  SSL_OP_CIPHER_SERVER_PREFERENCE);

  load("certificate file", files.cert,
       [&](auto& ec) { context.use_certificate_chain_file(files.cert, ec); });
  const std::string mismatch = "does not match the certificate '" + printable(files.cert, 300) + "'";
  load("key file", files.key, [&](auto& ec) {
    context.use_private_key_file(files.key, ssl::context::pem, ec);
    if (is_key_mismatch(ec)) fail("key file", files.key, mismatch);
  });
  if (SSL_CTX_check_private_key(native) != 1) fail("key file", files.key, mismatch);

  if (!files.client_ca.empty()) {
    load("client CA file", files.client_ca,
         [&](auto& ec) { context.load_verify_file(files.client_ca, ec); });
    // Sent in the CertificateRequest, so that a client with several certificates picks one
    // this CA signed.
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files.client_ca.c_str());
    if (names == nullptr) fail("client CA file", files.client_ca, "holds no CA certificate");
    SSL_CTX_set_client_CA_list(native, names);  // the context owns the list now
    context.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    SSL_CTX_set_session_id_context(native, kSessionIdContext, sizeof kSessionIdContext - 1);
  } else {
    context.set_verify_mode(ssl::verify_none);
  }
  return context;
}

}  // namespace perfkvm::host::http
