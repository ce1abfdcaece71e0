// The session engine over connected socket pairs: the host side is the real ChannelConnection
// on an io_context, counting real threads of this process named like QEMU's vCPU threads;
// the guest side is a TestGuest speaking the protocol.
#include <doctest/doctest.h>

#include <stdexcept>
#include <thread>

#include "host-agent/session/session_policy.hpp"
#include "session_harness.hpp"
#include "tests/common/host_pmu.hpp"

using namespace perfkvm;
using namespace perfkvm::host;
using namespace perfkvm::protocol;
using perfkvm::test::counted;
using perfkvm::test::expect_error;
using perfkvm::test::FakeVcpus;
using perfkvm::test::Harness;
using perfkvm::test::hello;
using perfkvm::test::kNonce;
using perfkvm::test::kOtherNonce;
using perfkvm::test::process_fds;
using perfkvm::test::start;
using perfkvm::test::TestGuest;
using namespace std::chrono_literals;

TEST_CASE("a full session: hello, start, samples, stop, report") {
  Harness h;
  // The guest below listens for 400 ms without a keepalive: a lease longer than that.
  h.config.lease_ms = 2000;
  auto [connection, guest] = h.connect(h.domain("web1"));

  guest->send(hello());
  const auto welcome = guest->receive_until<Welcome>();
  CHECK(welcome.nonce == kNonce);
  CHECK(welcome.domain_name == "web1");
  CHECK(welcome.vcpus == 2);
  CHECK(welcome.events.size() == event_catalogue().size());
  CHECK(welcome.limits.lease_ms == 2000);

  // welcome says which events this host counts: the hardware ones as the PMU probe found them.
  // Status as the open sees it (values are not checked here).
  const bool pmu = test::host_pmu().event("cycles").opens;
  const std::string branch = pmu ? ": hardware events supported, cycles counted"
                                 : ": hardware events not-supported";
  MESSAGE(test::host_pmu().describe() << branch);
  for (const auto& event : welcome.events) {
    CAPTURE(event.name);
    if (event.kind != protocol::EventKind::hardware) {
      CHECK(event.status == protocol::Availability::supported);
    } else if (event.name == "cpu-cycles" || event.name == "instructions") {
      const bool opens =
          test::host_pmu().event(event.name == "cpu-cycles" ? "cycles" : "instructions").opens;
      CHECK(event.status ==
            (opens ? protocol::Availability::supported : protocol::Availability::not_supported));
    }
  }

  guest->send(start(1, {"task-clock", "context-switches", "cycles"}, 50));
  const auto started = guest->receive_until<Started>();
  REQUIRE(started.columns.size() == 3);
  CHECK(started.columns[0].status == ColumnStatus::counted);
  CHECK(started.columns[2].status == (pmu ? ColumnStatus::counted : ColumnStatus::not_supported));
  CHECK(started.vcpus == std::vector<std::uint32_t>{0, 1});
  CHECK(connection->counting());
  CHECK(connection->open_counter_fds() > 0);

  std::vector<Sample> samples;
  const auto until = std::chrono::steady_clock::now() + 400ms;
  while (std::chrono::steady_clock::now() < until) {
    if (auto message = guest->try_receive(20ms)) {
      REQUIRE(std::holds_alternative<Sample>(*message));
      samples.push_back(std::get<Sample>(*message));
    }
  }
  guest->send(Stop{kNonce, 1});
  const auto report = guest->receive_until<Report>(&samples);

  REQUIRE(samples.size() >= 4);
  for (std::size_t i = 0; i < samples.size(); ++i) {
    CHECK(samples[i].seq == i + 1);
    CHECK(samples[i].nonce == kNonce);
    REQUIRE(samples[i].vcpus.size() == 2);
    if (i > 0) {
      CHECK(samples[i].elapsed_ns > samples[i - 1].elapsed_ns);
      CHECK(counted(samples[i].totals[0]).value >= counted(samples[i - 1].totals[0]).value);
    }
  }
  CHECK(report.reason == EndReason::stopped);
  CHECK(report.samples_sent == samples.size());
  CHECK(report.samples_dropped == 0);
  REQUIRE(report.vcpus.size() == 2);
  const auto busy = counted(report.vcpus[1].counts[0]).value;
  const auto idle = counted(report.vcpus[0].counts[0]).value;
  CHECK(busy > 5 * idle);
  CHECK(busy > report.duration_ns / 10);  // loose: a loaded host gives the spinner less CPU
  CHECK(counted(report.totals[0]).value == busy + idle);
  CHECK_FALSE(connection->counting());
  CHECK(connection->open_counter_fds() == 0);
}

TEST_CASE("every request error is a specific error frame, and the session survives it") {
  Harness h;
  auto [connection, guest] = h.connect(h.domain("web1"));

  guest->send(start(1, {"task-clock"}));
  CHECK(expect_error(*guest, ErrorCode::no_session).request_id == 1u);

  guest->send(hello());
  guest->receive_until<Welcome>();

  const auto unknown = [&] {
    guest->send(start(2, {"task-clock", "cyles"}));
    return expect_error(*guest, ErrorCode::unknown_event);
  }();
  CHECK(unknown.message.rfind("unknown event 'cyles'; valid events: cpu-cycles,", 0) == 0);

  guest->send(start(3, {"task-clock"}, 5));
  CHECK(expect_error(*guest, ErrorCode::interval_too_short).message ==
        "interval 5 ms is below this host's minimum of 10 ms");

  auto bad_vcpu = start(4, {"task-clock"});
  bad_vcpu.vcpus = std::vector<std::uint32_t>{0, 7};
  guest->send(bad_vcpu);
  CHECK(expect_error(*guest, ErrorCode::invalid_vcpu).message ==
        "vCPU 7 does not exist: domain 'web1' has 2 vCPUs (0 to 1)");

  h.config.max_events = 2;
  guest->send(start(5, {"task-clock", "cs", "faults"}));
  CHECK(expect_error(*guest, ErrorCode::too_many_events).message ==
        "3 events requested; this host allows 2 per request");

  guest->send(Stop{kNonce, 99});
  CHECK(expect_error(*guest, ErrorCode::unknown_request).request_id == 99u);

  guest->send(start(6, {"task-clock"}));
  guest->receive_until<Started>();
  guest->send(start(7, {"task-clock"}));
  CHECK(expect_error(*guest, ErrorCode::busy).message ==
        "request 6 is still counting on this channel; stop it first");

  guest->send(Sample{kNonce, 6, 1, 0, 0, {}, {}, std::nullopt});
  CHECK(expect_error(*guest, ErrorCode::invalid_message).message ==
        "'sample' is sent by the host, not by a guest");

  guest->send_bytes(encode_frame("{\"type\":\"stop\",\"nonce\":"));
  CHECK(expect_error(*guest, ErrorCode::invalid_json).nonce.empty());

  // The session still works after all of that.
  guest->send(Stop{kNonce, 6});
  CHECK(guest->receive_until<Report>().request_id == 6);
}

TEST_CASE("garbage and stale half-frames before a hello are skipped") {
  Harness h;
  auto [connection, guest] = h.connect(h.domain("web1"));
  const std::string stale = encode_message(hello(kOtherNonce)).substr(0, 20);
  guest->send_bytes("login: noise\r\n\xFF\x01" + stale);
  guest->send(hello());
  CHECK(guest->receive_until<Welcome>().nonce == kNonce);
  CHECK(connection->decoder_stats().discarded_bytes == 16 + stale.size());
}

TEST_CASE("keepalives are echoed and keep the lease; silence closes the counters") {
  Harness h;
  // Ten keepalive periods per lease: a test thread starved for a few hundred ms (sanitizers,
  // a loaded machine) must not look like a silent guest.
  h.config.lease_ms = 1000;
  auto [connection, guest] = h.connect(h.domain("web1"));
  guest->send(hello());
  guest->receive_until<Welcome>();
  guest->send(start(1, {"task-clock"}));
  guest->receive_until<Started>();

  // 3 leases long, with a keepalive every 100 ms: still counting.
  for (int i = 0; i < 30; ++i) {
    guest->send(Keepalive{kNonce});
    CHECK(guest->receive_until<Keepalive>().nonce == kNonce);
    h.io.run_for(100ms);
  }
  CHECK(connection->counting());

  // Silence: the lease (1000 ms) expires, the counters close, the guest is told.
  const auto error = expect_error(*guest, ErrorCode::lease_expired);
  CHECK(error.nonce == kNonce);
  CHECK(error.request_id == 1u);
  CHECK_FALSE(connection->counting());
  CHECK_FALSE(connection->has_session());
  CHECK(connection->open_counter_fds() == 0);

  // The channel still serves the next guest program.
  guest->send(hello(kOtherNonce));
  CHECK(guest->receive_until<Welcome>().nonce == kOtherNonce);
}

TEST_CASE("a paused domain's session keeps its lease; after the resume a whole lease again") {
  Harness h;
  h.config.lease_ms = 400;
  auto context = h.domain("web1");
  auto [connection, guest] = h.connect(context);
  guest->send(hello());
  guest->receive_until<Welcome>();
  guest->send(start(1, {"task-clock"}));
  guest->receive_until<Started>();

  // libvirt says the domain is paused: its guest says nothing for three leases.
  REQUIRE(context->pause.set(true, std::chrono::steady_clock::now()));
  h.io.run_for(1200ms);
  CHECK(connection->counting());
  // Resumed: still counting a little less than a lease later...
  REQUIRE(context->pause.set(false, std::chrono::steady_clock::now()));
  h.io.run_for(250ms);
  CHECK(connection->counting());
  // ...and a guest that stays silent after the resume loses its session as always.
  const auto error = expect_error(*guest, ErrorCode::lease_expired);
  CHECK(error.request_id == 1u);
  CHECK_FALSE(connection->counting());
}

TEST_CASE("a new hello ends the previous session on that channel") {
  Harness h;
  auto [connection, guest] = h.connect(h.domain("web1"));
  guest->send(hello());
  guest->receive_until<Welcome>();
  guest->send(start(1, {"task-clock"}, 20));
  guest->receive_until<Started>();

  guest->send(hello(kOtherNonce));
  std::vector<Sample> stale_samples;
  const auto replaced = guest->receive_until<Error>(&stale_samples);
  CHECK(replaced.code == ErrorCode::session_replaced);
  CHECK(replaced.nonce == kNonce);
  CHECK(replaced.request_id == 1u);
  CHECK(guest->receive_until<Welcome>().nonce == kOtherNonce);
  CHECK(connection->open_counter_fds() == 0);

  guest->send(Stop{kNonce, 1});  // the old program's stop: not its session any more
  CHECK(expect_error(*guest, ErrorCode::no_session).nonce == kNonce);
}

TEST_CASE("protocol 2: a read is answered at once by a sample with its read_id and no seq of "
          "its own; a version-1 session gets unknown-type") {
  Harness h;
  auto context = h.domain("web1");
  auto [connection, guest] = h.connect(context);
  guest->send(hello(kNonce, 2));
  REQUIRE(guest->receive_until<Welcome>().protocol == 2);

  guest->send(Read{kNonce, 1, 1});
  CHECK(expect_error(*guest, ErrorCode::unknown_request).message ==
        "request 1 is not counting (nothing is)");

  guest->send(start(1, {"task-clock"}, 50));
  guest->receive_until<Started>();
  std::vector<Sample> samples;
  const auto first = guest->receive_until<Sample>();
  REQUIRE_FALSE(first.read_id.has_value());
  const auto asked = std::chrono::steady_clock::now();
  guest->send(Read{kNonce, 1, 77});
  Sample answer;
  for (;;) {
    answer = guest->receive_until<Sample>();
    if (answer.read_id) break;
    samples.push_back(answer);
  }
  const auto answered = std::chrono::steady_clock::now();
  CHECK(*answer.read_id == 77);
  // Between the interval samples, numbered as the last of them: the next interval sample
  // still has the next seq.
  CHECK(answer.seq == first.seq + samples.size());
  CHECK(answer.elapsed_ns > first.elapsed_ns);
  CHECK(counted(answer.totals[0]).value >= counted(first.totals[0]).value);
  CHECK(answered - asked < 50ms);  // at once, not at the next interval (loose: a busy CI)
  const auto next = guest->receive_until<Sample>();
  CHECK_FALSE(next.read_id.has_value());
  CHECK(next.seq == answer.seq + 1);
  CHECK(next.elapsed_ns > answer.elapsed_ns);

  guest->send(Read{kNonce, 9, 78});
  CHECK(expect_error(*guest, ErrorCode::unknown_request).message ==
        "request 9 is not counting (request 1 is)");
  guest->send(Stop{kNonce, 1});
  const auto report = guest->receive_until<Report>();
  // Reads take no seq: the report counts the interval samples only.
  CHECK(report.samples_sent + report.samples_dropped >= next.seq);

  // The same read in a version-1 session.
  auto [v1_connection, v1_guest] = h.connect(context);
  v1_guest->send(hello(kOtherNonce, 1));
  REQUIRE(v1_guest->receive_until<Welcome>().protocol == 1);
  v1_guest->send(Read{kOtherNonce, 1, 1});
  CHECK(expect_error(*v1_guest, ErrorCode::unknown_type).message ==
        "'read' needs protocol version 2; this session speaks 1");
}

TEST_CASE("reads beyond the pace of samples at the host's shortest interval are refused with "
          "rate-limited and when to retry") {
  Harness h;
  h.config.min_interval_ms = 100;  // 10 reads a second, bursts of 10
  auto [connection, guest] = h.connect(h.domain("web1"));
  guest->send(hello(kNonce, 2));
  guest->receive_until<Welcome>();
  guest->send(start(1, {"task-clock"}));
  guest->receive_until<Started>();
  for (std::uint64_t id = 1; id <= 10; ++id) guest->send(Read{kNonce, 1, id});
  for (std::uint64_t id = 1; id <= 10; ++id) CHECK(*guest->receive_until<Sample>().read_id == id);
  guest->send(Read{kNonce, 1, 11});
  const auto refused = expect_error(*guest, ErrorCode::rate_limited);
  CHECK(refused.request_id == 1u);
  REQUIRE(refused.retry_after_ms.has_value());
  CHECK(*refused.retry_after_ms >= 1u);
  CHECK(*refused.retry_after_ms <= 100u);
  CHECK(refused.message ==
        "reads of request 1 are over this host's pace (as often as samples at its shortest "
        "interval, 100 ms)");
  std::this_thread::sleep_for(std::chrono::milliseconds(*refused.retry_after_ms));
  guest->send(Read{kNonce, 1, 12});
  CHECK(*guest->receive_until<Sample>().read_id == 12);
}

TEST_CASE("version negotiation and the per-domain session limit") {
  Harness h;
  h.config.max_sessions = 1;
  auto context = h.domain("web1");
  auto [first, guest1] = h.connect(context);
  auto [second, guest2] = h.connect(context);

  guest1->send(Hello{kNonce, 3, 4, "future-perfkvm", "9"});
  CHECK(expect_error(*guest1, ErrorCode::unsupported_version).message ==
        "this host speaks protocol versions 1 to 2; the guest offered 3 to 4");

  guest1->send(Hello{kNonce, 1, 5, "newer-perfkvm", "2"});
  CHECK(guest1->receive_until<Welcome>().protocol == 2);

  guest2->send(hello(kOtherNonce));
  CHECK(expect_error(*guest2, ErrorCode::too_many_sessions).message ==
        "domain 'web1' already has 1 perfkvm session(s), the most this host allows "
        "(perfkvm-hostd --max-sessions)");
}

TEST_CASE("a guest that never reads: hostd keeps going, samples are dropped and counted, and "
          "the dropped ones are not even read") {
  Harness h;
  h.config.max_queued_samples = 2;
  h.config.lease_ms = 10'000;  // the slow guest sends nothing for a while
  auto [slow, slow_guest] = h.connect(h.domain("slow"), 4096);
  std::uint64_t readings = 0;
  slow->set_sample_hook_for_testing([&readings] { ++readings; });
  auto [other, other_guest] = h.connect(h.domain("other"));

  slow_guest->send(hello());
  slow_guest->receive_until<Welcome>();
  slow_guest->send(start(1, {"task-clock", "context-switches", "page-faults", "cpu-clock"}, 10));
  slow_guest->receive_until<Started>();

  // The slow guest reads nothing for a second (about 100 samples) while the other domain's
  // guest gets a whole session served.
  other_guest->send(hello(kOtherNonce));
  CHECK(other_guest->receive_until<Welcome>().domain_name == "other");
  auto other_start = start(1, {"task-clock"});
  other_start.nonce = kOtherNonce;
  other_guest->send(other_start);
  other_guest->receive_until<Started>();
  h.io.run_for(1000ms);
  other_guest->send(Stop{kOtherNonce, 1});
  CHECK(other_guest->receive_until<Report>().reason == EndReason::stopped);

  slow_guest->send(Stop{kNonce, 1});
  std::vector<Sample> samples;
  const auto report = slow_guest->receive_until<Report>(&samples);
  CHECK(report.samples_dropped > 20);
  CHECK(report.samples_sent + report.samples_dropped >= 80);
  // Every sample that was queued arrives; the dropped ones are the newest, so the last
  // sequence number received is below the number of samples taken.
  CHECK(samples.size() == report.samples_sent);
  REQUIRE_FALSE(samples.empty());
  CHECK(samples.back().seq <= report.samples_sent + report.samples_dropped);
  for (std::size_t i = 1; i < samples.size(); ++i) CHECK(samples[i].seq > samples[i - 1].seq);
  // A sample is read only when the guest's queue has room for it: every reading was sent.
  CHECK(readings == report.samples_sent);
}

TEST_CASE("two domains at once: sessions do not disturb each other") {
  Harness h;
  auto [a, guest_a] = h.connect(h.domain("alpha"));
  auto [b, guest_b] = h.connect(h.domain("beta"));
  guest_a->send(hello());
  guest_b->send(hello(kOtherNonce));
  CHECK(guest_a->receive_until<Welcome>().domain_name == "alpha");
  CHECK(guest_b->receive_until<Welcome>().domain_name == "beta");

  guest_a->send(start(1, {"task-clock"}, 50));
  auto start_b = start(1, {"task-clock", "context-switches"});
  start_b.nonce = kOtherNonce;
  guest_b->send(start_b);
  CHECK(guest_a->receive_until<Started>().columns.size() == 1);
  CHECK(guest_b->receive_until<Started>().columns.size() == 2);

  guest_b->send_bytes(std::string(5000, 'x'));  // garbage on beta's channel
  guest_b->send(Stop{kOtherNonce, 1});
  const auto report_b = guest_b->receive_until<Report>();
  CHECK(report_b.nonce == kOtherNonce);
  CHECK(a->counting());

  std::vector<Sample> samples_a;
  h.io.run_for(200ms);
  guest_a->send(Stop{kNonce, 1});
  const auto report_a = guest_a->receive_until<Report>(&samples_a);
  CHECK(report_a.nonce == kNonce);
  CHECK(samples_a.size() >= 3);
  for (const auto& sample : samples_a) CHECK(sample.nonce == kNonce);
}

TEST_CASE("all guests together stay within the host's counter budget; ended requests give "
          "theirs back") {
  Harness h;
  h.config.host_counters = std::make_shared<CounterBudget>(4);
  auto [a, guest_a] = h.connect(h.domain("alpha"));
  auto [b, guest_b] = h.connect(h.domain("beta"));
  guest_a->send(hello());
  guest_b->send(hello(kOtherNonce));
  guest_a->receive_until<Welcome>();
  guest_b->receive_until<Welcome>();

  guest_a->send(start(1, {"task-clock", "context-switches"}));  // 2 columns x 2 vCPUs
  guest_a->receive_until<Started>();
  CHECK(h.config.host_counters->in_use() == 4);
  auto start_b = start(7, {"task-clock"});
  start_b.nonce = kOtherNonce;
  guest_b->send(start_b);
  const auto refused = expect_error(*guest_b, ErrorCode::too_many_events);
  CHECK(refused.request_id == 7u);
  CHECK(refused.message.find("2 counters would take this host over its limit for all guests "
                             "together: 4 of 4 are in use (perfkvm-hostd --max-host-counters)") !=
        std::string::npos);
  CHECK(a->counting());  // alpha's request is untouched

  guest_a->send(Stop{kNonce, 1});
  guest_a->receive_until<Report>();
  CHECK(h.config.host_counters->in_use() == 0);
  guest_b->send(start_b);
  guest_b->receive_until<Started>();
  CHECK(h.config.host_counters->in_use() == 2);
  // A session that simply goes away (lease expiry) gives its counters back too.
  h.io.run_for(std::chrono::milliseconds(h.config.lease_ms + 300));
  CHECK_FALSE(b->counting());
  CHECK(h.config.host_counters->in_use() == 0);
}

TEST_CASE("one domain's requests together stay within its share of the host's counters; "
          "another domain still counts, and an ended request gives its share back") {
  Harness h;
  h.config.max_domain_counters = 4;
  h.config.lease_ms = 10'000;
  auto big = h.domain("big");
  auto [first, first_guest] = h.connect(big);
  auto [second, second_guest] = h.connect(big);
  auto [other, other_guest] = h.connect(h.domain("other"));
  first_guest->send(hello());
  first_guest->receive_until<Welcome>();
  second_guest->send(hello());
  second_guest->receive_until<Welcome>();
  other_guest->send(hello(kOtherNonce));
  other_guest->receive_until<Welcome>();

  first_guest->send(start(1, {"task-clock", "context-switches"}));  // 4 counters: the share
  first_guest->receive_until<Started>();
  second_guest->send(start(1, {"task-clock"}));
  const auto refused = expect_error(*second_guest, ErrorCode::too_many_events);
  CHECK(refused.message.find("over its share of this host's counters: 4 of 4 are in use") !=
        std::string::npos);
  auto other_start = start(1, {"task-clock", "context-switches"});
  other_start.nonce = kOtherNonce;
  other_guest->send(other_start);
  other_guest->receive_until<Started>();
  CHECK(h.config.host_counters->in_use() == 8u);

  first_guest->send(Stop{kNonce, 1});
  first_guest->receive_until<Report>();
  second_guest->send(start(2, {"task-clock"}));
  CHECK(second_guest->receive_until<Started>().request_id == 2u);
  CHECK(big->counters->in_use() == 2u);
}

TEST_CASE("starts beyond the channel's rate are refused at once with rate-limited and when to "
          "retry; refused starts are charged too") {
  Harness h;
  // Two a second: a burst of two, then one per 500 ms, which is ample for hostd to read the
  // burst below even slowed down (sanitizers, a loaded machine).
  h.config.max_starts_per_second = 2;
  h.config.lease_ms = 5000;  // the test waits half a second in silence below
  auto [connection, guest] = h.connect(h.domain("web1"));
  guest->send(hello());
  guest->receive_until<Welcome>();

  // Eight start/stop pairs in one burst: two within the first second's allowance (one of
  // them refused by admission: still charged), the rest refused without waiting.
  const auto began = std::chrono::steady_clock::now();
  for (std::uint64_t id = 1; id <= 8; ++id) {
    guest->send(start(id, {id == 2 ? "no-such-event" : "task-clock"}));
    guest->send(Stop{kNonce, id});
  }
  for (std::uint64_t id = 1; id <= 2; ++id) {
    if (id == 2) {
      expect_error(*guest, ErrorCode::unknown_event);
      expect_error(*guest, ErrorCode::unknown_request);
      continue;
    }
    CHECK(guest->receive_until<Started>().request_id == id);
    CHECK(guest->receive_until<Report>().request_id == id);
  }
  for (std::uint64_t id = 3; id <= 8; ++id) {
    const auto refused = expect_error(*guest, ErrorCode::rate_limited);
    CHECK(refused.request_id == std::optional<std::uint64_t>(id));
    REQUIRE(refused.retry_after_ms);
    CHECK(*refused.retry_after_ms >= 1);
    CHECK(*refused.retry_after_ms <= 500);  // one start per 500 ms at 2 a second
    CHECK(refused.message.find("perfkvm-hostd --max-starts") != std::string::npos);
    expect_error(*guest, ErrorCode::unknown_request);  // its stop
  }
  CHECK(std::chrono::steady_clock::now() - began < 1s);  // nothing waited

  // After the advertised wait the start is accepted (asked again as perfkvm would, should a
  // slow machine make the first retry early).
  std::optional<Started> started;
  std::uint64_t id = 9;
  for (int attempt = 0; attempt < 3 && !started; ++attempt, ++id) {
    guest->send(start(id, {"task-clock"}));
    auto message = guest->try_receive(std::chrono::milliseconds(5000));
    REQUIRE(message);
    if (const auto* s = std::get_if<Started>(&*message)) {
      started = *s;
    } else {
      const auto* refused = std::get_if<Error>(&*message);
      REQUIRE_MESSAGE(refused, "expected started or error, got " << type_name(*message));
      MESSAGE("retry " << attempt << ": " << to_string(refused->code) << ": " << refused->message);
      REQUIRE(refused->code == ErrorCode::rate_limited);
      REQUIRE(refused->retry_after_ms);
      h.io.run_for(std::chrono::milliseconds(*refused->retry_after_ms + 10));
    }
  }
  CHECK(started);
  CHECK(h.config.stats->errors_sent[ErrorCode::rate_limited] >= 6);
}

TEST_CASE("the start budget is the domain's: a second channel (another vsock connection) gets "
          "no fresh burst, and counters are charged by what each start opens") {
  Harness h;
  h.config.max_starts_per_second = 3;
  h.config.max_counter_opens_per_second = 10;
  h.config.lease_ms = 5000;
  auto domain = h.domain("web1");
  auto [first, first_guest] = h.connect(domain);
  auto [second, second_guest] = h.connect(domain);
  first_guest->send(hello());
  first_guest->receive_until<Welcome>();
  second_guest->send(hello());
  second_guest->receive_until<Welcome>();

  // Two vCPUs: 2 events open 4 counters, 3 events 6. The first channel's start and stop take
  // 4 of the 10; its refused start (an unknown event) is a start all the same.
  first_guest->send(start(1, {"task-clock", "context-switches"}));
  CHECK(first_guest->receive_until<Started>().request_id == 1u);
  first_guest->send(Stop{kNonce, 1});
  first_guest->receive_until<Report>();
  first_guest->send(start(2, {"no-such-event"}));
  expect_error(*first_guest, ErrorCode::unknown_event);

  // The second channel: 6 more counters would fit the counter rate, but there is only one start
  // left of the three, and it needs 8 counters: refused for the counters, naming them.
  second_guest->send(start(1, {"task-clock", "context-switches", "page-faults", "cpu-clock"}));
  const auto too_many = expect_error(*second_guest, ErrorCode::rate_limited);
  CHECK(too_many.message.find("may open 10 counters per second (perfkvm-hostd "
                              "--max-counter-opens), this start needs 8") != std::string::npos);
  REQUIRE(too_many.retry_after_ms);
  CHECK(*too_many.retry_after_ms >= 1);
  CHECK(*too_many.retry_after_ms <= 200);  // 2 short at 10 a second
  // Three starts charged on the domain: its fourth, on either channel, is refused for the rate.
  second_guest->send(start(2, {"task-clock"}));
  const auto over_rate = expect_error(*second_guest, ErrorCode::rate_limited);
  CHECK(over_rate.message.find("this domain may start 3 requests per second") !=
        std::string::npos);
  first_guest->send(start(3, {"task-clock"}));
  expect_error(*first_guest, ErrorCode::rate_limited);
  CHECK(h.config.stats->requests_started == 1u);
}

TEST_CASE("a program that queued 3,000 start/stop pairs and exited does not delay the next "
          "program's hello: welcome within 1 s") {
  Harness h;
  h.config.lease_ms = 5000;
  // One start a second: the first queued start takes the only token, and the next one comes
  // a whole second later, so whether the budget can have refilled follows from the clock alone
  // (with 20 a second, the fraction of a token left after the queue refilled in under 50 ms).
  h.config.max_starts_per_second = 1;
  auto [connection, guest] = h.connect(h.domain("web1"));
  guest->send(hello());
  guest->receive_until<Welcome>();
  std::string queued;
  for (std::uint64_t id = 1; id <= 3000; ++id) {
    queued += encode_message(start(id, {"task-clock"}));
    queued += encode_message(Stop{kNonce, id});
  }
  // The next program's hello right behind them, as a virtio-serial port delivers both.
  queued += encode_message(hello(kOtherNonce));
  const auto began = std::chrono::steady_clock::now();
  guest->send_bytes(queued);
  Welcome welcome;
  for (;;) {  // the first program's replies come first (whatever fitted the bounded outbox)
    auto message = guest->try_receive(std::chrono::milliseconds(2000));
    REQUIRE(message);
    if (const auto* w = std::get_if<Welcome>(&*message)) {
      welcome = *w;
      break;
    }
  }
  const auto took = std::chrono::steady_clock::now() - began;
  MESSAGE("welcome after " << std::chrono::duration<double, std::milli>(took).count() << " ms");
  CHECK(welcome.nonce == kOtherNonce);
  CHECK(took < 1s);
  // The channel's start budget is spent (a new hello does not refill it, or hello storms would
  // bypass it): the new program is told when to start, as perfkvm then does. The token went
  // to a queued start, after `began`; only if a second has passed since can it be back.
  auto next = start(1, {"task-clock"});
  next.nonce = kOtherNonce;
  guest->send(next);
  const auto answer = guest->receive();
  const auto answered = std::chrono::steady_clock::now() - began;
  if (answered < 1s) {
    MESSAGE("the next start was answered " << std::chrono::duration<double, std::milli>(answered).count()
            << " ms after the queue was sent: the budget cannot have refilled, rate-limited expected");
    const auto* wait = std::get_if<protocol::Error>(&answer);
    REQUIRE_MESSAGE(wait, "got '" << protocol::type_name(answer) << "' instead of rate-limited");
    CHECK(to_string(wait->code) == to_string(ErrorCode::rate_limited));
    REQUIRE(wait->retry_after_ms);
    CHECK(*wait->retry_after_ms <= 1000);
    h.io.run_for(std::chrono::milliseconds(*wait->retry_after_ms + 5));
    next.request_id = 2;
    guest->send(next);
    CHECK(guest->receive_until<Started>().request_id == 2);
  } else {
    MESSAGE("the next start was answered only after "
            << std::chrono::duration<double, std::milli>(answered).count()
            << " ms (a loaded machine): the budget may have refilled, so either answer is right");
    const auto* error = std::get_if<protocol::Error>(&answer);
    CHECK((std::holds_alternative<Started>(answer) ||
           (error && error->code == ErrorCode::rate_limited)));
  }
  // The rest were refused without counters: at most the one-token burst, what the rate refilled
  // while hostd worked through the frames (slow under sanitizers), and the new program's start.
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  CHECK(static_cast<double>(h.config.stats->requests_started) <= 1 + 1 * seconds + 2);
}

TEST_CASE("a vCPU thread that exits mid-count ends its series; the report still comes") {
  Harness h;
  auto [context, vcpus] = h.domain_with_own_threads("web1");
  auto [connection, guest] = h.connect(context);
  guest->send(hello());
  guest->receive_until<Welcome>();
  guest->send(start(1, {"task-clock"}));
  guest->receive_until<Started>();
  h.io.run_for(100ms);
  vcpus.reset();  // both "vCPU threads" exit: the domain was destroyed
  guest->send(Stop{kNonce, 1});
  const auto report = guest->receive_until<Report>();
  REQUIRE(report.vcpus.size() == 2);
  CHECK(report.vcpus[0].status == VcpuStatus::ended);
  CHECK(report.vcpus[1].status == VcpuStatus::ended);
  CHECK(counted(report.vcpus[1].counts[0]).value > 10'000'000);  // its 100 ms of spinning
}

TEST_CASE("a domain with more vCPUs than the wire carries is welcomed as its first 4096") {
  Harness h;
  auto [connection, guest] = h.connect(h.domain("huge", 5000));
  guest->send(hello());
  CHECK(guest->receive_until<Welcome>().vcpus == protocol::kMaxVcpus);
}

TEST_CASE("the same hello twice is one guest repeating itself: no session-replaced notice") {
  Harness h;
  auto [connection, guest] = h.connect(h.domain("web1"));
  guest->send(hello());
  guest->receive_until<Welcome>();
  guest->send(hello());
  CHECK(guest->receive().index() == Message(Welcome{}).index());  // a welcome, no error first
}

TEST_CASE("sessions ended by lease or replacement free their place in the domain's limit") {
  Harness h;
  h.config.max_sessions = 1;
  auto context = h.domain("web1");
  auto [first, guest1] = h.connect(context);
  auto [second, guest2] = h.connect(context);
  guest1->send(hello());
  guest1->receive_until<Welcome>();
  expect_error(*guest1, ErrorCode::lease_expired);  // silent for the 400 ms lease
  CHECK(context->active_sessions == 0);
  guest2->send(hello(kOtherNonce));
  CHECK(guest2->receive_until<Welcome>().nonce == kOtherNonce);
  CHECK(context->active_sessions == 1);
}

TEST_CASE("columns are named as the request named the events, one or two per event (one with :G)") {
  Harness h;
  auto [connection, guest] = h.connect(h.domain("web1"));
  guest->send(hello());
  guest->receive_until<Welcome>();
  auto request = start(1, {"cycles", "cpu-cycles", "cs", "instructions:G"});
  request.mode = StartMode::both;
  guest->send(request);
  const auto started = guest->receive_until<Started>();
  REQUIRE(started.columns.size() == 6);
  // perf's :G names the one side, whatever the mode; the column is named without it.
  CHECK(started.columns[5].event == "instructions");
  CHECK(started.columns[5].scope == Scope::guest);
  CHECK(started.columns[0].event == "cycles");
  CHECK(started.columns[0].scope == Scope::guest);
  CHECK(started.columns[1].event == "cycles");
  CHECK(started.columns[1].scope == Scope::host);
  CHECK(started.columns[2].event == "cpu-cycles");
  CHECK(started.columns[3].event == "cpu-cycles");
  CHECK(started.columns[4].event == "cs");
  CHECK(started.columns[4].scope == Scope::all);
}

TEST_CASE("oversized frames and over-long messages are answered within the protocol's limits") {
  Harness h;
  // Small, but room for the welcome: its event list (38 statuses with reasons) is some 5 KiB.
  h.config.max_frame_bytes = 16384;
  auto [connection, guest] = h.connect(h.domain("web1"));
  guest->send(hello());
  guest->receive_until<Welcome>();
  const std::string big = "{\"type\":\"keepalive\",\"nonce\":\"" + kNonce + "\",\"pad\":\"" +
                          std::string(20000, 'x') + "\"}";
  guest->send_bytes(encode_frame(big));
  CHECK(expect_error(*guest, ErrorCode::invalid_message).message ==
        "a frame larger than this host's maximum of 16384 bytes was discarded");

  h.config.max_frame_bytes = kDefaultMaxPayload;
  auto [c2, guest2] = h.connect(h.domain("web2"));
  const std::string long_type = "{\"type\":\"" + std::string(10000, 't') + "\",\"nonce\":\"" +
                                kNonce + "\"}";
  guest2->send_bytes(encode_frame(long_type));
  const auto error = expect_error(*guest2, ErrorCode::unknown_type);  // parses: within limits
  CHECK(error.message.size() <= kMaxMessageLength);
  CHECK(error.message.rfind("unknown message type \"ttt", 0) == 0);
}

TEST_CASE("a domain whose vCPU threads all exit ends the request with domain-stopped") {
  Harness h;
  // The guest only listens: a lease longer than the sampler may take to notice the exits.
  h.config.lease_ms = 10'000;
  auto [context, vcpus] = h.domain_with_own_threads("web1");
  auto [connection, guest] = h.connect(context);
  guest->send(hello());
  guest->receive_until<Welcome>();
  guest->send(start(1, {"task-clock"}, 50));
  guest->receive_until<Started>();
  h.io.run_for(100ms);
  vcpus.reset();  // the domain was destroyed under the request
  std::vector<Sample> samples;
  const auto report = guest->receive_until<Report>(&samples);  // no stop sent
  CHECK(report.reason == EndReason::domain_stopped);
  CHECK_FALSE(connection->counting());
  CHECK(connection->open_counter_fds() == 0);
}

// ---- limits, unusual domains, list-events, failures inside hostd -----------------------------

namespace {

// The cases below do not test the lease: a long one keeps a loaded host from ending their
// sessions while a guest only listens.
constexpr std::uint32_t kLongLeaseMs = 10'000;

// PROTOCOL.md §6.2 rule 8, from the spec's own figures: a sample is estimated at 400 bytes,
// plus 67 per cell, plus 48 per vCPU row.
std::size_t spec_worst_sample_bytes(std::size_t columns, std::size_t vcpus, bool per_vcpu) {
  return 400 + 67 * columns + (per_vcpu ? vcpus * (48 + 67 * columns) : 0);
}

const std::vector<std::string> kEightSoftwareEvents = {
    "task-clock",   "cpu-clock",    "page-faults",  "context-switches",
    "cpu-migrations", "minor-faults", "major-faults", "alignment-faults"};

// Samples until the report, also accepting the optional `internal` error that PROTOCOL.md §6.1
// allows before a report of reason error (it must name the request).
Report report_after_failure(TestGuest& guest, std::uint64_t request_id,
                            std::vector<Sample>& samples) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    const auto message = guest.receive();
    if (const auto* sample = std::get_if<Sample>(&message)) {
      samples.push_back(*sample);
    } else if (const auto* error = std::get_if<Error>(&message)) {
      CHECK(error->code == ErrorCode::internal);
      CHECK(error->request_id == request_id);
    } else if (const auto* report = std::get_if<Report>(&message)) {
      return *report;
    } else {
      FAIL("expected samples and a report, got '" << type_name(message) << "'");
    }
  }
  FAIL("no report in time");
  return {};
}

}  // namespace

TEST_CASE("the per-request counter limit: columns x vCPUs above max_counters is refused, at it "
          "is accepted") {
  Harness h;
  h.config.lease_ms = kLongLeaseMs;
  h.config.max_counters = 4;
  auto [connection, guest] = h.connect(h.domain("web1"));
  guest->send(hello());
  guest->receive_until<Welcome>();

  // Exactly at the limit: 2 columns x 2 vCPUs = 4 counters.
  guest->send(start(1, {"task-clock", "cs"}));
  CHECK(guest->receive_until<Started>().vcpus == std::vector<std::uint32_t>{0, 1});
  CHECK(connection->open_counter_fds() == 4);
  CHECK(h.config.host_counters->in_use() == 4);
  guest->send(Stop{kNonce, 1});
  CHECK(guest->receive_until<Report>().reason == EndReason::stopped);

  // One over: 3 columns x 2 vCPUs = 6.
  guest->send(start(2, {"task-clock", "cs", "faults"}));
  auto refused = expect_error(*guest, ErrorCode::too_many_events);
  CHECK(refused.request_id == 2u);
  CHECK(refused.message ==
        "3 columns on 2 vCPUs need 6 counters; this host allows 4 per request "
        "(perfkvm-hostd --max-counters)");
  CHECK_FALSE(connection->counting());
  CHECK(h.config.host_counters->in_use() == 0);

  // Columns count, not events: two events, but a hardware event in mode both is two columns.
  auto both = start(3, {"cycles", "task-clock"});
  both.mode = StartMode::both;
  guest->send(both);
  refused = expect_error(*guest, ErrorCode::too_many_events);
  CHECK(refused.request_id == 3u);
  CHECK(refused.message.rfind("3 columns on 2 vCPUs need 6 counters; this host allows 4", 0) == 0);

  // Counted vCPUs count, not the domain's: the same 3 columns on vCPU 1 alone fit.
  auto one_vcpu = start(4, {"task-clock", "cs", "faults"});
  one_vcpu.vcpus = std::vector<std::uint32_t>{1};
  guest->send(one_vcpu);
  CHECK(guest->receive_until<Started>().vcpus == std::vector<std::uint32_t>{1});
  CHECK(connection->open_counter_fds() == 3);
  guest->send(Stop{kNonce, 4});
  CHECK(guest->receive_until<Report>().request_id == 4u);
  CHECK(connection->open_counter_fds() == 0);
}

TEST_CASE("a start whose samples could exceed the frame limit is refused; one byte more fits") {
  Harness h;
  h.config.lease_ms = kLongLeaseMs;
  h.vcpus.set_busy(false);
  auto context = h.domain("wide", 8);
  const FakeVcpus own(8, /*busy_vcpu=*/8);  // eight idle vCPU threads
  context->resolve_threads = [resolution = own.resolution()] { return resolution; };
  const std::size_t worst = spec_worst_sample_bytes(8, 8, true);  // 5608
  REQUIRE(worst == 5608);
  h.config.max_frame_bytes = static_cast<std::uint32_t>(worst - 1);
  auto [connection, guest] = h.connect(context);
  guest->send(hello());
  CHECK(guest->receive_until<Welcome>().limits.max_frame_bytes == worst - 1);

  guest->send(start(1, kEightSoftwareEvents, std::nullopt, /*per_vcpu=*/true));
  const auto refused = expect_error(*guest, ErrorCode::too_many_events);
  CHECK(refused.request_id == 1u);
  CHECK(refused.message ==
        "8 columns for 8 vCPUs would not fit in this host's maximum frame of 5607 bytes; count "
        "fewer events or vCPUs, or drop the per-vCPU breakdown");
  CHECK_FALSE(connection->counting());
  CHECK(h.config.host_counters->in_use() == 0);

  // Without the per-vCPU rows a sample is 400 + 8 x 67 bytes: accepted.
  guest->send(start(2, kEightSoftwareEvents, std::nullopt, /*per_vcpu=*/false));
  CHECK(guest->receive_until<Started>().vcpus.size() == 8);
  guest->send(Stop{kNonce, 2});
  CHECK(guest->receive_until<Report>().vcpus.empty());

  // Seven of the eight vCPUs: 5024 bytes, accepted.
  auto seven = start(3, kEightSoftwareEvents, std::nullopt, true);
  seven.vcpus = std::vector<std::uint32_t>{0, 1, 2, 3, 4, 5, 6};
  guest->send(seven);
  CHECK(guest->receive_until<Started>().vcpus.size() == 7);
  guest->send(Stop{kNonce, 3});
  CHECK(guest->receive_until<Report>().vcpus.size() == 7);

  // A frame limit of exactly the estimate: accepted, and the real samples fit (none dropped).
  h.config.max_frame_bytes = static_cast<std::uint32_t>(worst);
  auto [wide, wide_guest] = h.connect(context);
  wide_guest->send(hello(kOtherNonce));
  wide_guest->receive_until<Welcome>();
  auto full = start(4, kEightSoftwareEvents, 20, true);
  full.nonce = kOtherNonce;
  wide_guest->send(full);
  CHECK(wide_guest->receive_until<Started>().vcpus.size() == 8);
  h.io.run_for(150ms);
  wide_guest->send(Stop{kOtherNonce, 4});
  std::vector<Sample> samples;
  const auto report = wide_guest->receive_until<Report>(&samples);
  CHECK(report.samples_dropped == 0);
  CHECK(samples.size() >= 3);
  CHECK(samples.size() == report.samples_sent);
  for (const auto& sample : samples) CHECK(sample.vcpus.size() == 8);
  REQUIRE(report.vcpus.size() == 8);
}

TEST_CASE("a domain without vCPU threads: start answers domain-unavailable, and the session "
          "goes on") {
  Harness h;
  h.config.lease_ms = kLongLeaseMs;
  auto context = h.domain("web1");
  bool running = false;
  const pid_t tcg_thread = h.vcpus.resolution().threads[0].tid;
  std::string problem = "no QEMU process of domain 'web1' (not running?)";
  context->resolve_threads = [&]() -> VcpuResolution {
    if (running) return h.vcpus.resolution();
    VcpuResolution none;
    none.problem = problem;
    none.all_vcpus_tid = problem.find("TCG") != std::string::npos
                             ? std::optional<pid_t>(tcg_thread)
                             : std::nullopt;
    return none;
  };
  auto [connection, guest] = h.connect(context);
  guest->send(hello());
  CHECK(guest->receive_until<Welcome>().vcpus == 2);

  guest->send(start(1, {"task-clock"}, 50));
  auto refused = expect_error(*guest, ErrorCode::domain_unavailable);
  CHECK(refused.request_id == 1u);
  CHECK(refused.message ==
        "cannot find the vCPU threads of domain 'web1' (is it running? the host's log says why)");

  // Naming a vCPU does not change the answer: no vCPU has a thread, the domain has none.
  auto named = start(2, {"task-clock"});
  named.vcpus = std::vector<std::uint32_t>{0};
  guest->send(named);
  CHECK(expect_error(*guest, ErrorCode::domain_unavailable).request_id == 2u);

  // Single-threaded TCG: one thread runs every vCPU; it is not counted once per vCPU.
  problem = "domain 'web1' runs single-threaded TCG: its thread " + std::to_string(tcg_thread) +
            " 'ALL CPUs/TCG' runs every vCPU";
  guest->send(start(3, {"task-clock"}));
  refused = expect_error(*guest, ErrorCode::domain_unavailable);
  // The thread's id is the host's: logged, not sent.
  CHECK(refused.message.find(std::to_string(tcg_thread)) == std::string::npos);
  CHECK_FALSE(connection->counting());
  CHECK(connection->open_counter_fds() == 0);
  CHECK(h.config.host_counters->in_use() == 0);

  // The session is intact, and the threads are looked up again at the next start.
  guest->send(Keepalive{kNonce});
  CHECK(guest->receive_until<Keepalive>().nonce == kNonce);
  running = true;
  guest->send(start(4, {"task-clock"}));
  CHECK(guest->receive_until<Started>().vcpus == std::vector<std::uint32_t>{0, 1});
  guest->send(Stop{kNonce, 4});
  CHECK(guest->receive_until<Report>().reason == EndReason::stopped);
}

TEST_CASE("an offline vCPU: not counted, not a row; naming it is invalid-vcpu") {
  Harness h;
  h.config.lease_ms = kLongLeaseMs;
  h.vcpus.set_busy(false);
  const FakeVcpus own(3, /*busy_vcpu=*/2);
  auto resolution = own.resolution();
  resolution.threads.erase(resolution.threads.begin() + 1);  // vCPU 1 has no thread
  auto context = h.domain("web1", 3);
  context->resolve_threads = [resolution] { return resolution; };
  auto [connection, guest] = h.connect(context);
  guest->send(hello());
  CHECK(guest->receive_until<Welcome>().vcpus == 3);  // the domain's count, from its XML

  // Every vCPU: the ones with a thread, by their own indices.
  guest->send(start(1, {"task-clock", "cs"}, 40, /*per_vcpu=*/true));
  const auto started = guest->receive_until<Started>();
  CHECK(started.vcpus == std::vector<std::uint32_t>{0, 2});
  CHECK(started.columns.size() == 2);
  CHECK(connection->open_counter_fds() == 4);  // 2 columns x 2 threads
  h.io.run_for(200ms);
  guest->send(Stop{kNonce, 1});
  std::vector<Sample> samples;
  const auto report = guest->receive_until<Report>(&samples);
  REQUIRE_FALSE(samples.empty());
  for (const auto& sample : samples) {
    REQUIRE(sample.vcpus.size() == 2);
    CHECK(sample.vcpus[0].vcpu == 0);
    CHECK(sample.vcpus[1].vcpu == 2);
    CHECK(sample.totals.size() == 2);
  }
  REQUIRE(report.vcpus.size() == 2);
  CHECK(report.vcpus[0].vcpu == 0);
  CHECK(report.vcpus[1].vcpu == 2);
  for (const auto& row : report.vcpus) {
    CHECK(row.status == VcpuStatus::running);
    CHECK(row.counts.size() == 2);
  }
  // The counts are those of the right threads: vCPU 2 spins, vCPU 0 sleeps.
  const auto busy = counted(report.vcpus[1].counts[0]).value;
  const auto idle = counted(report.vcpus[0].counts[0]).value;
  CHECK(busy > 5 * idle);
  CHECK(counted(report.totals[0]).value == busy + idle);

  // Naming the offline vCPU, alone or with others.
  auto offline = start(2, {"task-clock"});
  offline.vcpus = std::vector<std::uint32_t>{1};
  guest->send(offline);
  auto refused = expect_error(*guest, ErrorCode::invalid_vcpu);
  CHECK(refused.request_id == 2u);
  CHECK(refused.message ==
        "vCPU 1 of domain 'web1' has no thread (offline?); vCPUs with threads: 0,2");
  offline.request_id = 3;
  offline.vcpus = std::vector<std::uint32_t>{2, 0, 1};
  guest->send(offline);
  CHECK(expect_error(*guest, ErrorCode::invalid_vcpu).request_id == 3u);
  CHECK_FALSE(connection->counting());

  // The online ones, named out of order: counted in ascending order.
  auto online = start(4, {"task-clock"});
  online.vcpus = std::vector<std::uint32_t>{2, 0};
  guest->send(online);
  CHECK(guest->receive_until<Started>().vcpus == std::vector<std::uint32_t>{0, 2});
  guest->send(Stop{kNonce, 4});
  const auto second = guest->receive_until<Report>();
  REQUIRE(second.vcpus.size() == 2);
  CHECK(second.vcpus[0].vcpu == 0);
  CHECK(second.vcpus[1].vcpu == 2);
}

TEST_CASE("list-events answers every catalogue event with its status on this host") {
  Harness h;
  h.config.lease_ms = kLongLeaseMs;
  auto [connection, guest] = h.connect(h.domain("web1"));
  guest->send(ListEvents{kNonce});
  CHECK(expect_error(*guest, ErrorCode::no_session).nonce == kNonce);

  guest->send(hello());
  const auto welcome = guest->receive_until<Welcome>();
  guest->send(ListEvents{kNonce});
  const auto events = guest->receive_until<Events>();
  CHECK(events.nonce == kNonce);

  // The catalogue, in catalogue order, each with the status the host's probe finds now.
  const auto catalogue = event_catalogue();
  const auto probed = probe_event_table();
  REQUIRE(events.events.size() == catalogue.size());
  REQUIRE(probed.size() == catalogue.size());
  MESSAGE(test::host_pmu().describe());
  for (std::size_t i = 0; i < catalogue.size(); ++i) {
    const auto& event = events.events[i];
    CAPTURE(event.name);
    CHECK(event.name == catalogue[i].name);
    CHECK(event.kind == catalogue[i].kind);
    CHECK(event == probed[i]);
    CHECK(event.reason.empty() == (event.status == Availability::supported));
    if (event.kind == EventKind::software) {
      CHECK(event.status == Availability::supported);
    } else if (event.name == "cpu-cycles" || event.name == "instructions") {
      // As the open sees it: the probe's perf name is the catalogue's alias or name.
      const bool opens =
          test::host_pmu().event(event.name == "cpu-cycles" ? "cycles" : "instructions").opens;
      CHECK(event.status == (opens ? Availability::supported : Availability::not_supported));
    }
  }
  CHECK(events.events == welcome.events);

  // Another program's nonce is not this session.
  guest->send(ListEvents{kOtherNonce});
  CHECK(expect_error(*guest, ErrorCode::no_session).nonce == kOtherNonce);

  // Allowed while a request counts; the request goes on.
  guest->send(start(1, {"task-clock"}, 20));
  guest->receive_until<Started>();
  guest->send(ListEvents{kNonce});
  std::vector<Sample> samples;
  CHECK(guest->receive_until<Events>(&samples).events == probed);
  CHECK(connection->counting());
  guest->send(Stop{kNonce, 1});
  CHECK(guest->receive_until<Report>(&samples).reason == EndReason::stopped);
}

TEST_CASE("an exception while starting is an internal error; the session and hostd go on") {
  Harness h;
  h.config.lease_ms = kLongLeaseMs;
  auto context = h.domain("web1");
  bool libvirt_down = true;
  context->resolve_threads = [&]() -> VcpuResolution {
    if (libvirt_down) throw std::runtime_error("libvirt: connection reset by peer");
    return h.vcpus.resolution();
  };
  auto [connection, guest] = h.connect(context);
  auto [other, other_guest] = h.connect(h.domain("web2"));
  guest->send(hello());
  guest->receive_until<Welcome>();
  other_guest->send(hello(kOtherNonce));
  other_guest->receive_until<Welcome>();
  const auto fds_before = process_fds();

  guest->send(start(1, {"task-clock"}, 20));
  const auto failed = expect_error(*guest, ErrorCode::internal);
  CHECK(failed.request_id == 1u);
  CHECK(failed.nonce == kNonce);
  CHECK(failed.message ==
        "the host could not start counting (an internal error: the host's log says why)");
  CHECK_FALSE(connection->counting());
  CHECK(connection->has_session());
  CHECK(connection->open_counter_fds() == 0);
  CHECK(h.config.host_counters->in_use() == 0);
  CHECK(process_fds() == fds_before);

  // Another domain's channel is served meanwhile.
  auto other_start = start(1, {"task-clock"}, 20);
  other_start.nonce = kOtherNonce;
  other_guest->send(other_start);
  other_guest->receive_until<Started>();
  h.io.run_for(100ms);
  other_guest->send(Stop{kOtherNonce, 1});
  std::vector<Sample> other_samples;
  CHECK(other_guest->receive_until<Report>(&other_samples).reason == EndReason::stopped);
  CHECK_FALSE(other_samples.empty());

  // And the failed channel counts once libvirt answers again.
  libvirt_down = false;
  guest->send(start(2, {"task-clock"}));
  CHECK(guest->receive_until<Started>().vcpus == std::vector<std::uint32_t>{0, 1});
  guest->send(Stop{kNonce, 2});
  CHECK(guest->receive_until<Report>().reason == EndReason::stopped);
}

TEST_CASE("a vCPU thread replaced while its counters were opened ends the start with "
          "domain-unavailable; nothing is left open") {
  Harness h;
  h.config.lease_ms = 10'000;
  auto context = h.domain("web1");
  // The lookup after the counters are open finds vCPU 1 on another thread.
  int lookups = 0;
  context->resolve_threads = [&h, &lookups] {
    auto resolution = h.vcpus.resolution();
    if (++lookups == 2) resolution.threads[1].tid = resolution.threads[0].tid;
    return resolution;
  };
  auto [connection, guest] = h.connect(context);
  guest->send(hello());
  guest->receive_until<Welcome>();
  const auto fds_before = process_fds();
  guest->send(start(1, {"task-clock"}));
  const auto refused = expect_error(*guest, ErrorCode::domain_unavailable);
  CHECK(refused.message.find("changed while its counters were opened") != std::string::npos);
  CHECK(lookups == 2);
  CHECK_FALSE(connection->counting());
  CHECK(process_fds() == fds_before);
  CHECK(h.config.host_counters->in_use() == 0);
  CHECK(context->counters->in_use() == 0);
  CHECK(h.config.stats->requests_started == 0);
  // The next start, with the threads steady again, counts.
  guest->send(start(2, {"task-clock"}));
  CHECK(guest->receive_until<Started>().request_id == 2u);
}

TEST_CASE("a start that throws after taking its counters from the host budget gives them back") {
  Harness h;
  h.config.lease_ms = kLongLeaseMs;
  auto context = h.domain("web1");
  auto resolution = h.vcpus.resolution();
  resolution.threads[1].tid = 0;  // a resolver bug: the counter set refuses it (tid 0 is hostd)
  context->resolve_threads = [resolution] { return resolution; };
  auto [connection, guest] = h.connect(context);
  guest->send(hello());
  guest->receive_until<Welcome>();
  const auto fds_before = process_fds();

  guest->send(start(1, {"task-clock", "cs"}));
  const auto failed = expect_error(*guest, ErrorCode::internal);
  CHECK(failed.request_id == 1u);
  CHECK(failed.message.rfind("the host could not start counting", 0) == 0);
  CHECK_FALSE(connection->counting());
  CHECK(connection->open_counter_fds() == 0);
  CHECK(h.config.host_counters->in_use() == 0);
  CHECK(process_fds() == fds_before);

  guest->send(Keepalive{kNonce});
  CHECK(guest->receive_until<Keepalive>().nonce == kNonce);
}

TEST_CASE("a sampler that throws ends its request with reason error; nothing leaks, the session "
          "and other channels go on") {
  Harness h;
  h.config.lease_ms = kLongLeaseMs;
  auto [connection, guest] = h.connect(h.domain("web1"));
  auto [other, other_guest] = h.connect(h.domain("web2"));
  int readings = 0;
  connection->set_sample_hook_for_testing([&readings] {
    if (++readings == 3) throw std::runtime_error("perf read failed: EIO");
  });
  guest->send(hello());
  guest->receive_until<Welcome>();
  other_guest->send(hello(kOtherNonce));
  other_guest->receive_until<Welcome>();
  const auto fds_before = process_fds();

  auto other_start = start(1, {"task-clock"}, 20);
  other_start.nonce = kOtherNonce;
  other_guest->send(other_start);
  other_guest->receive_until<Started>();
  guest->send(start(1, {"task-clock", "cs"}, 20));
  guest->receive_until<Started>();
  CHECK(h.config.host_counters->in_use() == 2 + 4);

  std::vector<Sample> samples;
  const auto report = report_after_failure(*guest, 1, samples);
  CHECK(report.reason == EndReason::error);
  CHECK(report.request_id == 1u);
  CHECK(samples.size() == 2);  // the third reading failed
  CHECK(report.samples_sent == 2);
  CHECK(report.columns.size() == 2);
  CHECK(report.vcpus.size() == 2);
  CHECK_FALSE(connection->counting());
  CHECK(connection->has_session());
  CHECK(connection->open_counter_fds() == 0);
  CHECK(h.config.host_counters->in_use() == 2);  // only the other channel's counters
  CHECK(other->counting());

  // No stray samples after the report; the session answers and counts again.
  guest->send(Keepalive{kNonce});
  CHECK(guest->receive_until<Keepalive>().nonce == kNonce);
  guest->send(start(2, {"task-clock"}, 20));
  guest->receive_until<Started>();
  h.io.run_for(100ms);
  guest->send(Stop{kNonce, 2});
  std::vector<Sample> later;
  CHECK(guest->receive_until<Report>(&later).reason == EndReason::stopped);
  CHECK(later.size() >= 2);
  for (const auto& sample : later) CHECK(sample.request_id == 2u);

  // The other domain's request was never disturbed.
  other_guest->send(Stop{kOtherNonce, 1});
  std::vector<Sample> other_samples;
  const auto other_report = other_guest->receive_until<Report>(&other_samples);
  CHECK(other_report.reason == EndReason::stopped);
  CHECK(other_report.samples_dropped == 0);
  CHECK(other_samples.size() >= 5);
  CHECK(h.config.host_counters->in_use() == 0);
  CHECK(process_fds() == fds_before);
}

// ---- the domain's policy (PROTOCOL.md §6.6) ---------------------------------------------------

TEST_CASE("session policy: a domain whose guest requests are denied gets not-permitted at hello") {
  Harness h;
  auto context = h.domain("locked");
  context->policy.guest_requests = GuestRequests::deny;
  auto [connection, guest] = h.connect(context);
  guest->send(hello());
  CHECK(expect_error(*guest, ErrorCode::not_permitted).message ==
        "domain 'locked': policy rule 'guest-requests' is deny: the guest may not count this "
        "domain's vCPUs");
  CHECK_FALSE(connection->has_session());
  guest->send(start(1, {"task-clock"}));  // no session was opened
  expect_error(*guest, ErrorCode::no_session);

  // The host's default denies, the domain allows: the domain's word wins.
  h.config.policy_defaults.guest_requests = GuestRequests::deny;
  auto open = h.domain("open");
  open->policy.guest_requests = GuestRequests::allow;
  auto [other, other_guest] = h.connect(open);
  other_guest->send(hello());
  CHECK(other_guest->receive_until<Welcome>().domain_name == "open");
}

TEST_CASE("session policy: welcome and events mark forbidden events not-permitted and carry the "
          "domain's limits; a forbidden start names the rule") {
  Harness h;
  auto context = h.domain("web1");
  context->policy.events = parse_event_list("software");
  context->policy.min_interval_ms = 100;
  context->policy.max_events = 3;
  auto [connection, guest] = h.connect(context);
  guest->send(hello());
  const auto welcome = guest->receive_until<Welcome>();
  CHECK(welcome.limits.min_interval_ms == 100);
  CHECK(welcome.limits.max_events == 3);
  CHECK(welcome.limits.max_sessions == h.config.max_sessions);  // the domain says nothing
  const bool pmu = test::host_pmu().event("instructions").opens;
  const std::string branch = pmu ? "counted, so not-permitted here"
                                 : "not supported, whatever the policy";
  MESSAGE("instructions on this host: " << branch);
  for (const auto& event : welcome.events) {
    const auto* info = find_event(event.name);
    REQUIRE(info != nullptr);
    if (info->kind == EventKind::software) {
      CHECK(event.status != Availability::not_permitted);
    } else if (event.name == "instructions") {
      CHECK(event.status == (pmu ? Availability::not_permitted : Availability::not_supported));
      if (pmu) CHECK(event.reason == "this domain's policy (rule 'events') allows: software");
    }
  }
  guest->send(ListEvents{kNonce});
  CHECK(guest->receive_until<Events>().events == welcome.events);

  guest->send(start(1, {"task-clock", "instructions"}, 200));
  CHECK(expect_error(*guest, ErrorCode::not_permitted).message ==
        "domain 'web1': policy rule 'events' does not allow event 'instructions' (allowed: "
        "software)");
  guest->send(start(2, {"task-clock"}, 50));
  CHECK(expect_error(*guest, ErrorCode::not_permitted).message.find("'min-interval-ms'") !=
        std::string::npos);
  guest->send(start(3, {"task-clock"}, 5));  // below the host's own minimum: its own code
  expect_error(*guest, ErrorCode::interval_too_short);
  guest->send(start(4, {"task-clock", "cs", "faults", "migrations"}));
  CHECK(expect_error(*guest, ErrorCode::not_permitted).message.find("'max-events'") !=
        std::string::npos);
  guest->send(start(5, {"task-clock"}, 100));
  CHECK(guest->receive_until<Started>().request_id == 5);
  CHECK(h.config.stats->requests_started == 1);  // the refusals opened nothing
}

TEST_CASE("session policy: max-sessions narrower than the host's is too-many-sessions naming the rule") {
  Harness h;
  auto context = h.domain("web1");
  context->policy.max_sessions = 1;
  auto [first, guest1] = h.connect(context);
  auto [second, guest2] = h.connect(context);
  guest1->send(hello());
  guest1->receive_until<Welcome>();
  guest2->send(hello(kOtherNonce));
  CHECK(expect_error(*guest2, ErrorCode::too_many_sessions).message ==
        "domain 'web1': policy rule 'max-sessions' allows 1 sessions at once, and 1 are open");
}

TEST_CASE("session policy: a change ends the running request it forbids with not-permitted and a "
          "report; another domain's session goes on; the next start sees the new policy") {
  Harness h;
  h.config.lease_ms = 5000;
  auto web = h.domain("web1");
  auto db = h.domain("db1");
  auto [connection, guest] = h.connect(web);
  auto [other, other_guest] = h.connect(db);
  guest->send(hello());
  guest->receive_until<Welcome>();
  other_guest->send(hello(kOtherNonce));
  other_guest->receive_until<Welcome>();
  guest->send(start(1, {"task-clock", "context-switches"}, 20));
  guest->receive_until<Started>();
  auto other_start = start(1, {"task-clock"}, 20);
  other_start.nonce = kOtherNonce;
  other_guest->send(other_start);
  other_guest->receive_until<Started>();
  h.io.run_for(100ms);

  // A change that still allows the request changes nothing.
  DomainPolicy looser;
  looser.max_sessions = 2;
  change_policy(*web, looser);
  CHECK(connection->counting());

  DomainPolicy stricter;
  stricter.events = parse_event_list("task-clock");
  change_policy(*web, stricter);
  std::vector<Sample> samples;
  const auto ended = guest->receive_until<Error>(&samples);
  CHECK(ended.code == ErrorCode::not_permitted);
  CHECK(ended.request_id == std::optional<std::uint64_t>(1));
  CHECK(ended.message ==
        "the policy changed: domain 'web1': policy rule 'events' does not allow event "
        "'context-switches' (allowed: task-clock); counting stopped (the report holds the "
        "counts up to now)");
  const auto report = guest->receive_until<Report>(&samples);
  CHECK(report.reason == EndReason::error);
  CHECK(counted(report.totals[0]).value > 0);  // the counts up to the change are kept
  CHECK_FALSE(connection->counting());
  CHECK(connection->has_session());  // the session stays: new starts meet the new policy
  CHECK(other->counting());

  guest->send(start(2, {"context-switches"}));
  expect_error(*guest, ErrorCode::not_permitted);
  guest->send(start(3, {"task-clock"}));
  guest->receive_until<Started>();
  std::vector<Sample> other_samples;
  h.io.run_for(100ms);
  other_guest->send(Stop{kOtherNonce, 1});
  const auto other_report = other_guest->receive_until<Report>(&other_samples);
  CHECK(other_report.reason == EndReason::stopped);
  CHECK(other_samples.size() >= 5);  // sampled throughout, at 20 ms, over 200 ms or more
}
