// The one escaping rule for untrusted text (util/printable.hpp), case by case.
#include "util/printable.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace std::string_literals;

TEST_CASE("printable: what is kept and what is escaped") {
  struct Case {
    std::string text;
    std::string shown;
  };
  const std::vector<Case> cases{
      {"CPU 0/KVM", "CPU 0/KVM"},
      {"", ""},
      {"line\nforged: error", "line\\x0aforged: error"},  // no forged log lines
      {"\x1b[2Jcleared", "\\x1b[2Jcleared"},               // no terminal control
      {"tab\tand\rcr", "tab\\x09and\\x0dcr"},
      {"del\x7f", "del\\x7f"},
      {"back\\slash", "back\\x5cslash"},                  // escapes stay unambiguous
      {"nul\0byte"s, "nul\\x00byte"},
      {"caf\xc3\xa9", "caf\xc3\xa9"},                      // valid UTF-8 is kept
      {"\xe2\x82\xac \xf0\x9f\x98\x80", "\xe2\x82\xac \xf0\x9f\x98\x80"},
      {"\xff\xfe", "\\xff\\xfe"},                          // not UTF-8
      {"\xc3", "\\xc3"},                                  // a truncated sequence
      {"\xc0\xaf", "\\xc0\\xaf"},                          // an overlong '/'
      {"\xed\xa0\x80", "\\xed\\xa0\\x80"},                  // a surrogate
      {"\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"},          // above U+10FFFF
      {"csi\xc2\x9b" "2J", "csi\\xc2\\x9b2J"},                    // a C1 control (CSI)
      {"a\xe2\x80\xa8" "b", "a\\xe2\\x80\\xa8b"},                // the line separator
      {"x\xe2\x80\xae" "evil", "x\\xe2\\x80\\xaeevil"},          // right-to-left override
      {"\xe2\x81\xa6i\xe2\x81\xa9", "\\xe2\\x81\\xa6i\\xe2\\x81\\xa9"},  // isolates
      {"\xc2\xa0nbsp \xe2\x80\x93", "\xc2\xa0nbsp \xe2\x80\x93"},  // other marks are kept
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    CHECK(perfkvm::printable(c.text) == c.shown);
  }
}

TEST_CASE("printable: long text is cut at a character boundary and marked") {
  CHECK(perfkvm::printable(std::string(100, 'x'), 4) == "xxxx...");
  CHECK(perfkvm::printable("abcd", 4) == "abcd");
  // A two-byte character that would not fit whole is left out, not split.
  CHECK(perfkvm::printable("abc\xc3\xa9", 4) == "abc...");
  // Nor is an escape split.
  CHECK(perfkvm::printable("ab\n", 4) == "ab...");
}
