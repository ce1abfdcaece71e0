// XmlDocument: the untrusted-input guards (size, NUL, depth, DOCTYPE, entities) and the
// XPath and node helpers the domain parser builds on.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "host-agent/domains/xml_document.hpp"

using namespace perfkvm::host;

TEST_CASE("input the parser never sees") {
  CHECK_THROWS_WITH_AS(XmlDocument::parse(""), "is empty", XmlError);
  CHECK_THROWS_WITH_AS(XmlDocument::parse(std::string_view("<a>\0</a>", 8)),
                       "has a NUL byte at offset 3", XmlError);

  std::string big = "<a>" + std::string(kMaxXmlBytes, ' ') + "</a>";
  CHECK_THROWS_WITH_AS(
      XmlDocument::parse(big),
      ("is " + std::to_string(big.size()) + " bytes, more than the 8388608 accepted").c_str(),
      XmlError);
  // Exactly at the cap is still parsed.
  big.resize(kMaxXmlBytes - 4);
  big += "</a>";
  CHECK(name_of(XmlDocument::parse(big).root()) == "a");
}

TEST_CASE("libxml2's first fatal error with its line") {
  CHECK_THROWS_WITH_AS(
      XmlDocument::parse("<a>\n<b>\n</a>"),
      "is not well-formed: line 3: Opening and ending tag mismatch: b line 2 and a", XmlError);
  CHECK_THROWS_WITH_AS(XmlDocument::parse("<!-- only a comment -->"),
                       "is not well-formed: line 1: Start tag expected, '<' not found", XmlError);
  std::string deep;
  for (int i = 0; i < 300; ++i) deep += "<a>";
  CHECK_THROWS_WITH_AS(XmlDocument::parse(deep),
                       "is not well-formed: line 1: Excessive depth in document: 256 use "
                       "XML_PARSE_HUGE option",
                       XmlError);
}

TEST_CASE("a DOCTYPE is refused before any entity is read") {
  // A file the external entity points at: if libxml2 ever read it, its text would show.
  const auto secret = std::filesystem::temp_directory_path() /
                      ("perfkvm-domains-test-" + std::to_string(::getpid()) + ".txt");
  std::ofstream(secret) << "TOP-SECRET-CANARY";
  const std::string xml = "<?xml version='1.0'?>\n<!DOCTYPE a [\n<!ENTITY s SYSTEM 'file://" +
                          secret.string() + "'>\n]>\n<a>&s;</a>\n";
  std::string message;
  try {
    XmlDocument::parse(xml);
  } catch (const XmlError& error) {
    message = error.what();
  }
  std::filesystem::remove(secret);
  CHECK(message ==
        "has a DOCTYPE at line 2, which is refused (entities are never expanded or "
        "fetched)");

  // Without a DOCTYPE an entity reference is simply undefined.
  CHECK_THROWS_WITH_AS(XmlDocument::parse("<a>&s;</a>"),
                       "is not well-formed: line 1: Entity 's' not defined", XmlError);
  // The five predefined entities and character references are plain text.
  CHECK(text_of(XmlDocument::parse("<a>&lt;&amp;&#47;</a>").root()) == "<&/");
}

TEST_CASE("XPath selects elements in document order, relative to a node") {
  auto doc = XmlDocument::parse(
      "<domain>\n"
      "  <devices>\n"
      "    <channel type='unix'/>\n"
      "    <!-- a comment -->\n"
      "    <channel type='pty'/>\n"
      "  </devices>\n"
      "  <channel type='outside-devices'/>\n"
      "</domain>\n");
  const auto channels = doc.select(doc.root(), "./devices/channel");
  REQUIRE(channels.size() == 2);
  CHECK(attribute(*channels[0], "type") == "unix");
  CHECK(attribute(*channels[1], "type") == "pty");
  CHECK(line_of(*channels[1]) == 5);
  CHECK(doc.select_first(*channels[0], "./target") == nullptr);
  CHECK(doc.select_first(doc.root(), "./channel") != nullptr);
  CHECK(doc.select(doc.root(), "./nothing").empty());
}

TEST_CASE("attributes: absent, empty and namespaced are told apart") {
  auto doc = XmlDocument::parse(
      "<a xmlns:x='urn:x' empty='' x:ns='namespaced' plain='p &amp; q'><b>one</b><b>two</b></a>");
  CHECK(attribute(doc.root(), "missing") == std::nullopt);
  CHECK(attribute(doc.root(), "empty") == "");
  CHECK(attribute(doc.root(), "plain") == "p & q");
  // libvirt reads attributes without namespace; a prefixed one is someone else's.
  CHECK(attribute(doc.root(), "ns") == std::nullopt);
  CHECK(text_of(doc.root()) == "onetwo");
}
