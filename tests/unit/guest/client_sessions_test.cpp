// The real perfkvm binary against the fake host, one subcase per fixture in
// tests/data/guest/sessions/NAME.json:
//   "args":   perfkvm's arguments; "--device SOCKET" of the fake host is put in front
//   "fifos":  paths to make with mkfifo first
//   "locale": LC_ALL for perfkvm (default "C", perf's numbers ungrouped); the locales are
//             tests/locales' (LOCPATH)
//   "host":   the fake host's script (see FakeHostScript), or null for no host at all
//   "expect": "status", "min_seconds"/"max_seconds", "stderr_lines" (whole lines that must
//             appear), "stderr_contains"/"stderr_lacks" (substrings), "stderr_counts"
//             {substring: how many times exactly}, "stdout_lines", "stdout_contains",
//             "file_lines" {path: lines}, "absent_files", "host_received" {type: count,
//             "TYPE_min": count, "distinct_nonces": count}
// "{device}" stands for the fake host's socket, "{tmp}" for a scratch directory and
// "{perfkvm}" for the perfkvm binary (for the command's own perfkvm ctl), "{roi_demo}" for a
// C program that uses perfkvm_roi.h.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <algorithm>
#include <boost/json.hpp>
#include <csignal>
#include <filesystem>
#include <functional>
#include <map>
#include <set>

#include "fake_host.hpp"
#include "process.hpp"
#include "protocol/codec.hpp"
#include "test_data.hpp"

namespace json = boost::json;
using namespace perfkvm::test;
using perfkvm::protocol::enum_from_string;
using perfkvm::protocol::ErrorCode;

namespace {

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

perfkvm::protocol::Error error_from(const json::value& value) {
  const auto& object = value.as_object();
  const auto code = enum_from_string<ErrorCode>(std::string(object.at("code").as_string()));
  if (!code) throw std::runtime_error("fixture: unknown error code");
  return {"", std::nullopt, *code, std::string(object.at("message").as_string()), std::nullopt};
}

std::set<std::uint64_t> seqs(const json::value& value) {
  std::set<std::uint64_t> result;
  for (const auto& seq : value.as_array()) result.insert(seq.to_number<std::uint64_t>());
  return result;
}

FakeHostScript script_from(const json::object& host) {
  FakeHostScript script;
  for (const auto& [key, value] : host) {
    if (key == "silent") {
      script.silent = value.as_bool();
    } else if (key == "garbage") {
      script.garbage = value.as_bool();
    } else if (key == "hello_error") {
      script.hello_error = error_from(value);
    } else if (key == "start_error") {
      script.start_error = error_from(value);
    } else if (key == "vcpus") {
      script.vcpus = value.to_number<std::uint32_t>();
    } else if (key == "close_after_sample") {
      script.close_after_sample = value.to_number<std::uint64_t>();
    } else if (key == "lease_expired_after_sample") {
      script.lease_expired_after_sample = value.to_number<std::uint64_t>();
    } else if (key == "close_after_read") {
      script.close_after_read = value.to_number<std::uint64_t>();
    } else if (key == "rate_limited_starts") {
      script.rate_limited_starts = value.to_number<int>();
    } else if (key == "welcome_protocol") {
      script.welcome_protocol = value.to_number<std::uint32_t>();
    } else if (key == "lease_ms") {
      script.lease_ms = value.to_number<std::uint32_t>();
    } else if (key == "after_started") {
      using After = FakeHostScript::AfterStarted;
      static const std::map<std::string, After> kAfter = {{"close", After::close},
                                                          {"reset", After::reset},
                                                          {"lease-expired", After::lease_expired},
                                                          {"forgot-session", After::forgot_session},
                                                          {"domain-stopped", After::domain_stopped},
                                                          {"failure", After::failure},
                                                          {"policy-changed", After::policy_changed}};
      script.after_started = kAfter.at(std::string(value.as_string()));
    } else if (key == "signal_after_started") {
      static const std::map<std::string, int> kSignals = {{"INT", SIGINT}, {"TERM", SIGTERM}};
      script.signal_after_started = kSignals.at(std::string(value.as_string()));
    } else if (key == "drop_samples") {
      script.drop_samples = seqs(value);
    } else if (key == "short_samples") {
      script.short_samples = seqs(value);
    } else if (key == "foreign_samples") {
      script.foreign_samples = seqs(value);
    } else if (key == "late_samples") {
      script.late_samples = seqs(value);
    } else if (key == "repeat_samples") {
      script.repeat_samples = seqs(value);
    } else if (key == "close_after_reports") {
      script.close_after_reports = value.to_number<std::uint64_t>();
    } else if (key == "vary_reports") {
      script.vary_reports = value.as_bool();
    } else if (key == "mute_after_started") {
      script.mute_after_started = value.as_bool();
    } else if (key == "ignore_stop") {
      script.ignore_stop = value.as_bool();
    } else {
      throw std::runtime_error("fixture: unknown host key " + std::string(key));
    }
  }
  return script;
}

std::vector<std::string> strings(const json::object& object, std::string_view key,
                                 const std::function<std::string(std::string)>& expand) {
  std::vector<std::string> result;
  if (const auto* array = object.if_contains(key)) {
    for (const auto& item : array->as_array())
      result.push_back(expand(std::string(item.as_string())));
  }
  return result;
}

bool has_line(const std::string& text, const std::string& line) {
  for (const auto& candidate : lines_of(text)) {
    if (candidate == line) return true;
  }
  return false;
}

std::size_t occurrences(const std::string& text, const std::string& needle) {
  std::size_t count = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++count;
  }
  return count;
}

void check_host(const FakeHost& host, const json::object& expected) {
  for (const auto& [key, value] : expected) {
    const std::string name(key);
    const auto wanted = value.to_number<std::size_t>();
    if (name == "distinct_nonces") {
      CHECK_MESSAGE(host.distinct_nonces() == wanted, "distinct nonces");
    } else if (name.ends_with("_min")) {
      const std::string type = name.substr(0, name.size() - 4);
      CHECK_MESSAGE(host.count(type) >= wanted, "at least " << wanted << " '" << type << "'");
    } else if (name.ends_with("_max")) {
      const std::string type = name.substr(0, name.size() - 4);
      CHECK_MESSAGE(host.count(type) <= wanted, "at most " << wanted << " '" << type << "', got "
                                                           << host.count(type));
    } else {
      CHECK_MESSAGE(host.count(name) == wanted, "exactly " << wanted << " '" << name << "'");
    }
  }
}

// A key this test does not know would check nothing (a typo in a fixture): an error instead.
void check_known_keys(const json::object& object, std::initializer_list<std::string_view> known,
                      const std::string& where) {
  for (const auto& [key, value] : object) {
    const bool is_known = std::find(known.begin(), known.end(), std::string_view(key)) != known.end();
    CHECK_MESSAGE(is_known, where << ": unknown key '" << std::string_view(key) << "'");
  }
}

void run_case(const std::filesystem::path& path) {
  const auto fixture = json::parse(read_file(path)).as_object();
  check_known_keys(fixture, {"about", "fifos", "locale", "args", "host", "expect"}, path.filename().string());
  const auto& expect = fixture.at("expect").as_object();
  check_known_keys(expect,
                   {"status", "min_seconds", "max_seconds", "stderr_lines", "stderr_contains",
                    "stderr_lacks", "stderr_counts", "stdout_lines", "stdout_contains", "file_lines", "absent_files",
                    "host_received"},
                   path.filename().string() + " \"expect\"");

  std::unique_ptr<FakeHost> host;
  if (!fixture.at("host").is_null()) {
    host = std::make_unique<FakeHost>(script_from(fixture.at("host").as_object()));
  }
  char pattern[] = "/tmp/perfkvm-case-XXXXXX";
  REQUIRE(::mkdtemp(pattern) != nullptr);
  const std::string tmp = pattern;
  const auto expand = [&](std::string text) {
    text = replace_all(std::move(text), "{tmp}", tmp);
    text = replace_all(std::move(text), "{perfkvm}", PERFKVM_GUEST_BINARY);
    text = replace_all(std::move(text), "{roi_demo}", PERFKVM_ROI_DEMO);
    return host ? replace_all(std::move(text), "{device}", host->socket_path()) : text;
  };

  // "fifos": paths made with mkfifo before perfkvm runs (--control).
  if (const auto* fifos = fixture.if_contains("fifos")) {
    for (const auto& path : fifos->as_array()) {
      REQUIRE(::mkfifo(expand(std::string(path.as_string())).c_str(), 0600) == 0);
    }
  }
  std::vector<std::string> argv{PERFKVM_GUEST_BINARY};
  if (host) argv.insert(argv.end(), {"--device", host->socket_path()});
  for (const auto& arg : strings(fixture, "args", expand)) argv.push_back(arg);

  const auto* locale = fixture.if_contains("locale");
  const std::string lc_all =
      "LC_ALL=" + (locale != nullptr ? std::string(locale->as_string()) : std::string("C"));
  const auto result = run_process(
      argv, std::chrono::seconds(20), [&](pid_t pid) { if (host) host->set_client_pid(pid); },
      {lc_all});
  if (host) host->stop();
  INFO("stderr:\n" << result.err);
  INFO("stdout:\n" << result.out);
  REQUIRE_FALSE(result.timed_out);

  CHECK(result.status == expect.at("status").to_number<int>());
  const double seconds = static_cast<double>(result.elapsed.count()) / 1000.0;
  if (const auto* max = expect.if_contains("max_seconds"))
    CHECK(seconds <= max->to_number<double>());
  if (const auto* min = expect.if_contains("min_seconds"))
    CHECK(seconds >= min->to_number<double>());
  for (const auto& line : strings(expect, "stderr_lines", expand)) {
    CHECK_MESSAGE(has_line(result.err, line), "stderr line: '" << line << "'");
  }
  for (const auto& text : strings(expect, "stderr_contains", expand)) {
    CHECK_MESSAGE(result.err.find(text) != std::string::npos, "stderr has: '" << text << "'");
  }
  for (const auto& text : strings(expect, "stderr_lacks", expand)) {
    CHECK_MESSAGE(result.err.find(text) == std::string::npos, "stderr lacks: '" << text << "'");
  }
  if (const auto* counts = expect.if_contains("stderr_counts")) {
    for (const auto& [text, wanted] : counts->as_object()) {
      const std::string needle = expand(std::string(text));
      CHECK_MESSAGE(occurrences(result.err, needle) == wanted.to_number<std::size_t>(),
                    "stderr has '" << needle << "' " << wanted.to_number<std::size_t>()
                                   << " times");
    }
  }
  for (const auto& line : strings(expect, "stdout_lines", expand)) {
    CHECK_MESSAGE(has_line(result.out, line), "stdout line: '" << line << "'");
  }
  for (const auto& text : strings(expect, "stdout_contains", expand)) {
    CHECK_MESSAGE(result.out.find(text) != std::string::npos, "stdout has: '" << text << "'");
  }
  if (const auto* files = expect.if_contains("file_lines")) {
    for (const auto& [file, lines] : files->as_object()) {
      const std::string content = read_file(expand(std::string(file)));
      for (const auto& line : lines.as_array()) {
        CHECK_MESSAGE(has_line(content, std::string(line.as_string())),
                      file << " line: '" << line.as_string() << "'\n"
                           << content);
      }
    }
  }
  for (const auto& file : strings(expect, "absent_files", expand)) {
    CHECK_MESSAGE(!std::filesystem::exists(file), file << " must not exist");
  }
  if (const auto* received = expect.if_contains("host_received")) {
    REQUIRE(host);
    check_host(*host, received->as_object());
  }
  std::filesystem::remove_all(tmp);
}

}  // namespace

TEST_CASE("perfkvm against a fake host: session fixtures") {
  for (const auto& path : fixtures(data_dir() / "guest" / "sessions", ".json")) {
    SUBCASE(path.stem().c_str()) { run_case(path); }
  }
}
