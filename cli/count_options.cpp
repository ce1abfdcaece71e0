#include "cli/count_options.hpp"

#include <CLI/CLI.hpp>
#include <array>
#include <stdexcept>

#include "cli/event_list.hpp"
#include "cli/usage.hpp"

namespace perfkvm::cli {

namespace {

struct ModeSpelling {
  std::string_view name;
  protocol::StartMode mode;
};

// In the order the error lists them; "all" is the older spelling of "both".
constexpr std::array kModeSpellings{
    ModeSpelling{"guest", protocol::StartMode::guest},
    ModeSpelling{"host", protocol::StartMode::host},
    ModeSpelling{"all", protocol::StartMode::both},
    ModeSpelling{"both", protocol::StartMode::both},
};

const ModeSpelling* find_mode(std::string_view name) {
  for (const auto& spelling : kModeSpellings) {
    if (spelling.name == name) return &spelling;
  }
  return nullptr;
}

// "guests not in {guest,host,all,both}": the words of CLI11's IsMember, which users of
// perfkvm have seen since its first version.
std::string not_a_mode(std::string_view text) {
  std::string names;
  for (const auto& spelling : kModeSpellings) {
    names += names.empty() ? "{" : ",";
    names += spelling.name;
  }
  return std::string(text) + " not in " + names + "}";
}

// A misspelt --mode is refused at the option, as CLI11 refuses other bad values.
std::string check_mode(const std::string& text) { return find_mode(text) ? "" : not_a_mode(text); }

constexpr const char* kModeHelp =
    "hardware events: guest (guest code only), host\n"
    "(the host side only), both (a guest and a host\n"
    "column; all is the same); default: one column\n"
    "with guest and host together";

}  // namespace

protocol::StartMode parse_mode(std::string_view text) {
  if (text.empty()) return protocol::StartMode::all;
  if (const auto* spelling = find_mode(text)) return spelling->mode;
  throw std::invalid_argument("--mode: " + not_a_mode(text));
}

CountOptionSet::CountOptionSet(CLI::App& app, const CountOptionsHelp& help) {
  app.add_option("-e,--event,--events", event_args_,
                 "events, comma or space separated; -e may repeat\n(default: perf stat's" +
                     (help.event_names_from.empty() ? "" : "; see " + help.event_names_from) +
                     ");\ncycles:G or cycles:H: the guest's or the host's\nside only")
      ->option_text("EVENTS")
      ->type_name("EVENTS")
      ->group(help.count_group)
      ->allow_extra_args(false);  // -e cs ls: ls is the command (perfkvm) or DOMAIN (stat)
  app.add_flag("-d,--detailed", detailed_,
               "perf's detailed sets, appended to the events: -d\nL1 data and last-level cache, "
               "-dd also the\ninstruction cache and TLBs, -ddd the prefetches")
      ->group(help.count_group);
  CLI::Option* cpu_option = nullptr;
  if (help.offer_cpu) {
    cpu_option =
        app.add_option("--cpu", cpu_, "count vCPU N-1 only; 0: all vCPUs (the seed\ntool's way)")
            ->option_text("N")
            ->group(help.count_group)
            ->check(CLI::Range(0u, protocol::kMaxVcpus));
  }
  auto* vcpu_option =
      app.add_option("--vcpu", vcpu_list_, "vCPUs to count, 0-based, e.g. 0,2-3 (default: all)")
          ->option_text("LIST")
          ->group(help.count_group);
  if (cpu_option != nullptr) vcpu_option->excludes(cpu_option);
  app.add_option("--mode", mode_, kModeHelp)
      ->option_text("MODE")
      ->group(help.count_group)
      ->check(CLI::Validator(check_mode, "MODE"));

  app.add_option("-i,-I,--interval-print,--interval", interval_,
                 "also print the counts of every MS milliseconds")
      ->option_text("MS")
      ->group(help.output_group)
      ->check(CLI::Range(1u, protocol::kMaxIntervalMs));
  app.add_flag("-A,--per-vcpu,--no-aggr", per_vcpu_, "one line per vCPU and event")
      ->group(help.output_group);
  separator_option_ =
      app.add_option("-x,--field-separator", separator_, "CSV output, fields split by SEP")
          ->option_text("SEP")
          ->group(help.output_group);
  app.add_flag("-j,--json", json_, "JSON output, one object per line")->group(help.output_group);
  // perf's -B is on by default: it matters only as a refusal with -x, and against --no-big-num.
  app.add_flag("-B,--big-num", big_num_,
               "group the counts' digits by LC_NUMERIC (default)")
      ->group(help.output_group);
  app.add_flag("--no-big-num", no_big_num_, "counts without thousands' separators")
      ->group(help.output_group);
  app.add_option("-o,--output", output_,
                 "write the report to FILE instead of " + help.report_stream)
      ->option_text("FILE")
      ->group(help.output_group);
}

CountOptions CountOptionSet::finish() const {
  CountOptions options;
  try {
    options.events =
        event_args_.empty() ? default_events() : parse_event_args(event_args_);
    const auto detailed = detailed_events(detailed_);
    options.events.insert(options.events.end(), detailed.begin(), detailed.end());
    if (options.events.size() > protocol::kMaxEventsPerRequest) {
      throw std::invalid_argument(std::to_string(options.events.size()) +
                                  " events with -d; at most " +
                                  std::to_string(protocol::kMaxEventsPerRequest));
    }
    if (!vcpu_list_.empty()) options.vcpus = parse_vcpu_list(vcpu_list_);
    options.mode = parse_mode(mode_);
  } catch (const std::invalid_argument& error) {
    throw UsageError(error.what());
  }
  if (cpu_ > 0) options.vcpus = std::vector<std::uint32_t>{cpu_ - 1};
  if (interval_ > 0) options.interval_ms = interval_;
  options.format.per_vcpu = per_vcpu_;
  const bool csv = separator_option_->count() > 0;
  if (csv && json_) throw UsageError("-x and --json: choose one output format");
  if (csv) {
    if (separator_.empty()) throw UsageError("-x needs a separator, e.g. -x ,");
    options.format.format = report::OutputFormat::csv;
    options.format.separator = separator_;
  }
  if (json_) options.format.format = report::OutputFormat::json;
  if (big_num_ && no_big_num_) throw UsageError("-B and --no-big-num: choose one");
  // perf stat: "-B option not supported with -x"; CSV is never grouped.
  if (big_num_ && csv) throw UsageError("-B and -x: CSV output is never grouped (as perf's)");
  if (no_big_num_) options.format.big_num = false;
  if (!output_.empty()) options.output_path = output_;
  return options;
}

}  // namespace perfkvm::cli
