#include "certificates.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace perfkvm::test {

namespace {

namespace fs = std::filesystem;

// The extensions each certificate needs; [dn] only because openssl req insists on one.
constexpr const char* kConfig = R"(
[req]
distinguished_name = dn
prompt = no
[dn]
CN = perfkvm-test
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,IP:::1
[client_ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
)";

class CertificateMaker {
 public:
  explicit CertificateMaker(fs::path dir) : dir_(std::move(dir)) {
    fs::create_directories(dir_);
    std::ofstream(dir_ / "openssl.cnf") << kConfig;
  }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  void make_ca(const std::string& name) {
    run("req -x509 -config " + path("openssl.cnf") + " -extensions ca_ext " + kNewKey + " -keyout " +
        path(name + ".key") + " -out " + path(name + ".crt") + " -days 2 -subj /CN=" + name);
  }

  void make_leaf(const std::string& name, const std::string& ca, const std::string& extensions) {
    run("req -new -config " + path("openssl.cnf") + " " + kNewKey + " -keyout " + path(name + ".key") +
        " -out " + path(name + ".csr") + " -subj /CN=" + name);
    run("x509 -req -in " + path(name + ".csr") + " -CA " + path(ca + ".crt") + " -CAkey " +
        path(ca + ".key") + " -set_serial " + std::to_string(++serial_) + " -days 2 -extfile " +
        path("openssl.cnf") + " -extensions " + extensions + " -out " + path(name + ".crt"));
  }

 private:
  static constexpr const char* kNewKey = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

  void run(const std::string& arguments) {
    const std::string log = path("openssl.log");
    const std::string command = std::string(PERFKVM_OPENSSL) + " " + arguments + " >" + log + " 2>&1";
    if (std::string(PERFKVM_OPENSSL).empty()) {
      throw std::runtime_error("the openssl command was not found when the build was configured");
    }
    const int status = std::system(command.c_str());
    if (status != 0) {
      std::stringstream output;
      output << std::ifstream(log).rdbuf();
      throw std::runtime_error("'" + command + "' failed: " + output.str());
    }
  }

  fs::path dir_;
  int serial_ = 1;
};

struct MadeCertificates {
  MadeCertificates() {
    const auto dir = fs::temp_directory_path() / ("perfkvm-http-test-" + std::to_string(::getpid()));
    CertificateMaker maker(dir);
    maker.make_ca("ca");
    maker.make_leaf("server", "ca", "server_ext");
    maker.make_leaf("client", "ca", "client_ext");
    maker.make_ca("other-ca");
    maker.make_leaf("stranger", "other-ca", "client_ext");
    files = {dir.string(),           maker.path("ca.crt"),     maker.path("server.crt"),
             maker.path("server.key"), maker.path("client.crt"), maker.path("client.key"),
             maker.path("stranger.crt"), maker.path("stranger.key")};
  }
  ~MadeCertificates() {
    std::error_code ignored;
    fs::remove_all(files.dir, ignored);
  }
  Certificates files;
};

}  // namespace

const Certificates& test_certificates() {
  static const MadeCertificates made;
  return made.files;
}

}  // namespace perfkvm::test
