// Certificates made at test time, once per run, by the openssl command in a temporary
// directory: a CA, a server certificate for 127.0.0.1 and ::1 and a client certificate it
// signed, and a client certificate of another CA (a stranger's).
#pragma once

#include <string>

namespace perfkvm::test {

struct Certificates {
  std::string dir;
  std::string ca_cert;
  std::string server_cert;
  std::string server_key;
  std::string client_cert;
  std::string client_key;
  std::string stranger_cert;  // signed by another CA
  std::string stranger_key;
};

// Throws std::runtime_error with openssl's output if a command fails.
const Certificates& test_certificates();

}  // namespace perfkvm::test
