#include "certificates.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

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
    auto args = with_new_key({"req", "-x509", "-config", path("openssl.cnf"), "-extensions", "ca_ext"});
    append(args, {"-keyout", path(name + ".key"), "-out", path(name + ".crt"), "-days", "2", "-subj",
                  "/CN=" + name});
    run(args);
  }

  void make_leaf(const std::string& name, const std::string& ca, const std::string& extensions) {
    auto request = with_new_key({"req", "-new", "-config", path("openssl.cnf")});
    append(request, {"-keyout", path(name + ".key"), "-out", path(name + ".csr"), "-subj", "/CN=" + name});
    run(request);
    run({"x509", "-req", "-in", path(name + ".csr"), "-CA", path(ca + ".crt"), "-CAkey",
         path(ca + ".key"), "-set_serial", std::to_string(++serial_), "-days", "2", "-extfile",
         path("openssl.cnf"), "-extensions", extensions, "-out", path(name + ".crt")});
  }

 private:
  using Args = std::vector<std::string>;

  static void append(Args& args, const Args& more) { args.insert(args.end(), more.begin(), more.end()); }

  static Args with_new_key(Args args) {
    append(args, {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"});
    return args;
  }

  // openssl with a fixed argv (no shell), its output in openssl.log.
  void run(const Args& arguments) {
    if (std::string(PERFKVM_OPENSSL).empty()) {
      throw std::runtime_error("the openssl command was not found when the build was configured");
    }
    const std::string log = path("openssl.log");
    std::vector<std::string> args = {PERFKVM_OPENSSL};
    append(args, arguments);
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    pid_t pid = -1;
    const int error = ::posix_spawn(&pid, PERFKVM_OPENSSL, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    int status = 0;
    if (error == 0) ::waitpid(pid, &status, 0);
    if (error != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::string command;
      for (const auto& arg : args) command += (command.empty() ? "" : " ") + arg;
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
