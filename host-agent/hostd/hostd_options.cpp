#include "host-agent/hostd/hostd_options.hpp"

#include <stdexcept>
#include <variant>

#include "cli/count_options.hpp"
#include "cli/event_list.hpp"
#include "host-agent/http/listen_address.hpp"
#include "host-agent/policy/policy_options.hpp"
#include "protocol/frame.hpp"
#include "perfkvm_config.hpp"

namespace perfkvm::host {

namespace {

// A CLI11 check from a parser that throws std::invalid_argument with the message for the user:
// the option is refused, at parse time, with the parser's own words.
template <auto parse>
std::string refused_by(const std::string& text) {
  try {
    parse(text);
    return {};
  } catch (const std::invalid_argument& bad) {
    return bad.what();
  }
}

void add_metrics_options(CLI::App& app, ExportOptions& metrics) {
  const std::string group = "Prometheus export (off unless --metrics-listen is given)";
  app.add_option("--metrics-listen", metrics.listen,
                 "serve GET /metrics on ADDR:PORT, e.g. 127.0.0.1:9477 or [::1]:9477")
      ->option_text("ADDR:PORT")
      ->group(group)
      ->check([](const std::string& text) {
        const auto parsed = http::parse_listen_address(text);
        const auto* problem = std::get_if<std::string>(&parsed);
        return problem ? *problem : std::string();
      });
  app.add_option_function<std::string>(
         "--metrics-events",
         [&metrics](const std::string& text) { metrics.events = cli::parse_event_list(text); },
         "events counted on every vCPU (default: task-clock, context-switches, cpu-migrations, "
         "page-faults and, where the host counts them, cycles, instructions, branches, "
         "branch-misses, cache-references, cache-misses)")
      ->option_text("LIST")
      ->group(group)
      ->join(',')  // as --default-events: a config file's unquoted list is one list
      ->check(refused_by<cli::parse_event_list>);
  app.add_option_function<std::string>(
         "--metrics-mode", [&metrics](const std::string& text) { metrics.mode = cli::parse_mode(text); },
         "hardware events: guest, host, or both (a series of each scope); default: guest and "
         "host together")
      ->option_text("MODE")
      ->group(group)
      ->check(refused_by<cli::parse_mode>);
  app.add_option_function<std::uint32_t>(
         "--metrics-min-read-interval",
         [&metrics](std::uint32_t ms) { metrics.min_read_interval = std::chrono::milliseconds(ms); },
         "read the counters at most once per MS; scrapes in between get the last read")
      ->option_text("MS")
      ->default_str(std::to_string(metrics.min_read_interval.count()))
      ->group(group)
      ->check(CLI::Range(0u, 3'600'000u));
  auto* cert = app.add_option("--metrics-tls-cert", metrics.tls_cert,
                              "serve HTTPS with this certificate (PEM; with --metrics-tls-key)")
                   ->option_text("FILE")
                   ->group(group)
                   ->check(CLI::ExistingFile);
  auto* key = app.add_option("--metrics-tls-key", metrics.tls_key, "the certificate's private key (PEM)")
                  ->option_text("FILE")
                  ->group(group)
                  ->check(CLI::ExistingFile);
  cert->needs(key);
  key->needs(cert);
  app.add_option("--metrics-client-ca", metrics.client_ca,
                 "require client certificates signed by this CA (mutual TLS)")
      ->option_text("FILE")
      ->group(group)
      ->check(CLI::ExistingFile)
      ->needs(cert);
}

}  // namespace

void add_hostd_options(CLI::App& app, HostdOptions& options) {
  app.description(
      "perfkvm-hostd: counts perf events on KVM guests' vCPU threads when a program in the "
      "guest asks (perfkvm, over virtio-serial or vsock; no IP networking).\n"
      "It finds libvirt's domains and their perfkvm channels, follows domains as they start "
      "and stop, and serves each guest on its own channel. Needs root or CAP_PERFMON, and "
      "read access to libvirt.");
  app.set_version_flag("--version", std::string("perfkvm-hostd ") + PERFKVM_VERSION);
  app.add_option("-c,--connect", options.uri, "libvirt URI")->capture_default_str();
  app.add_option("--channel-name", options.channel_name,
                 "virtio-serial channel target name to serve")
      ->capture_default_str();
  app.add_option("--vsock-port", options.vsock_port, "AF_VSOCK port to listen on")
      ->capture_default_str()
      ->check(CLI::Range(1u, 0xFFFFFFFEu));
  app.add_flag("!--no-vsock", options.vsock, "do not listen on AF_VSOCK");

  // Every option may also come from FILE, one `name = value` per line (CLI11's TOML subset):
  // the unit reads hostd.conf in the sysconfdir. Options on the command line override it.
  app.set_config("--config", "", "read options from FILE, `name = value` per line (e.g. "
                 "default-policy = \"deny\"); the command line overrides it")
      ->option_text("FILE")
      ->check(CLI::ExistingFile);
  // A misspelt name must not be a silently ignored limit (CLI11 ignores them by default).
  app.allow_config_extras(CLI::config_extras_mode::error);

  auto& s = options.session;
  add_policy_options(app, {s.min_interval_ms, s.max_events, s.max_sessions, s.policy_defaults});
  app.add_option("--max-frame", s.max_frame_bytes, "largest frame accepted or sent, bytes")
      ->capture_default_str()
      ->check(CLI::Range(std::uint32_t{4096}, static_cast<std::uint32_t>(protocol::kDefaultMaxPayload)));
  app.add_option("--lease", s.lease_ms,
                 "ms of silence after which a guest's counters are closed (guests send "
                 "keepalives)")
      ->capture_default_str()
      ->check(CLI::Range(100u, 3'600'000u));
  app.add_option("--max-counters", s.max_counters,
                 "perf counters one request may open (columns x vCPUs)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1'000'000u));
  app.add_option_function<std::uint64_t>(
         "--max-host-counters",
         [&s](std::uint64_t limit) { s.host_counters->set_limit(limit); },
         "perf counters all running requests together may hold (lowered to fit hostd's "
         "fd limit)")
      ->default_str(std::to_string(s.host_counters->limit()))
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{10'000'000}));
  app.add_option("--max-domain-counters", s.max_domain_counters,
                 "perf counters one domain's running requests together may hold")
      ->capture_default_str()
      ->check(CLI::Range(1u, 10'000'000u));
  app.add_option("--max-counter-reads", s.max_domain_reads_per_second,
                 "counter reads a second one domain's sampling requests may cost (columns x "
                 "vCPUs x samples a second)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 100'000'000u));
  app.add_option("--max-starts", s.max_starts_per_second,
                 "requests one domain's guests may start per second (faster ones are refused "
                 "with when to retry)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 100'000u));
  app.add_option("--max-counter-opens", s.max_counter_opens_per_second,
                 "perf counters one domain's started requests may open per second")
      ->capture_default_str()
      ->check(CLI::Range(1u, 10'000'000u));
  app.add_option("--max-queued-samples", s.max_queued_samples,
                 "samples waiting for a slow guest before new ones are dropped")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{4096}));

  add_metrics_options(app, options.metrics);

  app.add_option("--proc-root", options.paths.proc_root, "where /proc is")->capture_default_str();
  app.add_option("--libvirt-run-dir", options.paths.libvirt_qemu_run_dir,
                 "libvirt's qemu runtime directory (<name>.pid, status XML)")
      ->capture_default_str();
  app.add_flag_callback("-v,--verbose", [&options] { options.log_level = log::Level::debug; },
                        "log debug messages");
  app.add_flag_callback("-q,--quiet", [&options] { options.log_level = log::Level::warning; },
                        "log only warnings and errors");
}

}  // namespace perfkvm::host
