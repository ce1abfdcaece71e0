// The direct sample writer against the JSON tree it stands in for: the same bytes for every
// shape of sample, and the tree path for text that needs escaping.
#include "protocol/sample_writer.hpp"

#include <doctest/doctest.h>

#include <limits>
#include <random>
#include <string>

#include "protocol/codec.hpp"

using namespace perfkvm::protocol;

namespace {

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

std::vector<Cell> random_cells(std::mt19937_64& random, std::size_t columns) {
  std::vector<Cell> cells;
  for (std::size_t c = 0; c < columns; ++c) {
    switch (random() % 4) {
      case 0: cells.push_back(std::nullopt); break;
      case 1: cells.push_back(Count{kMax, kMax, kMax}); break;
      default: cells.push_back(Count{random() >> (random() % 64), random() % 1'000'000'000'000,
                                     random() % 1000});
    }
  }
  return cells;
}

Sample random_sample(std::mt19937_64& random) {
  Sample s;
  s.nonce = "5f2b9c0e7d41a6835f2b9c0e7d41a683";
  s.request_id = random() % 3 == 0 ? kMax : random() % 100;
  s.seq = random() % 100000;
  s.elapsed_ns = random();
  s.host_time_ns = random();
  const std::size_t columns = random() % 6;
  s.totals = random_cells(random, columns);
  const std::size_t vcpus = random() % 2 == 0 ? 0 : random() % 5;
  for (std::uint32_t v = 0; v < vcpus; ++v) {
    s.vcpus.push_back({v * 7u, random() % 3 == 0 ? VcpuStatus::ended : VcpuStatus::running,
                       random_cells(random, columns)});
  }
  return s;
}

}  // namespace

TEST_CASE("sample writer: the same bytes as the JSON tree, for every shape of sample") {
  std::mt19937_64 random(20261201);
  for (int i = 0; i < 2000; ++i) {
    const Sample sample = random_sample(random);
    std::string direct;
    REQUIRE(append_sample_json(sample, direct));
    CAPTURE(direct);
    CHECK(direct == serialize_message(sample));
    // The whole frame too (a length with a 0xFF byte pads the payload with spaces).
    CHECK(encode_message(sample) == encode_frame(serialize_message(sample)));
    const auto parsed = parse_message(direct);
    REQUIRE(std::holds_alternative<Message>(parsed));
    CHECK(std::get<Sample>(std::get<Message>(parsed)) == sample);
  }
}

TEST_CASE("sample writer: text that needs escaping goes through the tree") {
  for (const std::string& nonce : {std::string("a\"b"), std::string("back\\slash"),
                                  std::string("tab\there"), std::string("\xc3\xa9t\xc3\xa9")}) {
    CAPTURE(nonce);
    Sample sample;
    sample.nonce = nonce;
    sample.totals = {Count{1, 2, 3}};
    std::string direct = "unchanged";
    CHECK_FALSE(append_sample_json(sample, direct));
    CHECK(direct == "unchanged");
    CHECK(encode_message(sample) == encode_frame(serialize_message(sample)));
  }
}
