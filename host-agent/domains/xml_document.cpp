#include "host-agent/domains/xml_document.hpp"

#include <libxml/SAX2.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlsave.h>
#include <libxml/xmlerror.h>

#include <utility>

namespace perfkvm::host {
namespace {

struct FreeParserContext {
  void operator()(xmlParserCtxt* context) const noexcept { xmlFreeParserCtxt(context); }
};
struct FreeXPathObject {
  void operator()(xmlXPathObject* object) const noexcept { xmlXPathFreeObject(object); }
};
struct FreeXmlString {
  void operator()(xmlChar* text) const noexcept { xmlFree(text); }
};
using XmlString = std::unique_ptr<xmlChar, FreeXmlString>;

// What the SAX callbacks learn during one parse; they reach it through ctxt->_private.
struct ParseReport {
  long doctype_line = 0;
  std::string first_fatal_error;
};

ParseReport& report_of(void* parser_context) {
  return *static_cast<ParseReport*>(static_cast<xmlParserCtxt*>(parser_context)->_private);
}

std::string without_trailing_newline(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

// Entities are declared in the DOCTYPE: stopping there, before libxml2 reads a single
// declaration, rules out both entity expansion (billion laughs) and fetching (XXE).
// libvirt never writes a DOCTYPE.
void refuse_doctype(void* parser_context, const xmlChar*, const xmlChar*, const xmlChar*) {
  report_of(parser_context).doctype_line = xmlSAX2GetLineNumber(parser_context);
  xmlStopParser(static_cast<xmlParserCtxt*>(parser_context));
}

// The first fatal error names the cause; later ones are usually its consequences.
void record_error(void* parser_context, xmlError* error) {
  auto& report = report_of(parser_context);
  if (error == nullptr || error->level != XML_ERR_FATAL || !report.first_fatal_error.empty()) {
    return;
  }
  report.first_fatal_error =
      "line " + std::to_string(error->line) + ": " +
      without_trailing_newline(error->message != nullptr ? error->message : "unknown error");
}

void init_libxml2_once() {
  // libxml2 wants this once before threads use it; a function-local static is thread-safe.
  static const bool initialized = [] {
    xmlInitParser();
    return true;
  }();
  static_cast<void>(initialized);
}

}  // namespace

XmlDocument::XmlDocument(std::unique_ptr<xmlDoc, FreeDoc> doc)
    : doc_(std::move(doc)),
      root_(xmlDocGetRootElement(doc_.get())),
      xpath_(xmlXPathNewContext(doc_.get())) {
  if (root_ == nullptr) throw XmlError("has no root element");
  if (!xpath_) throw XmlError("cannot be queried: out of memory for an XPath context");
}

XmlDocument XmlDocument::parse(std::string_view text) {
  if (text.empty()) throw XmlError("is empty");
  if (text.size() > kMaxXmlBytes) {
    throw XmlError("is " + std::to_string(text.size()) + " bytes, more than the " +
                   std::to_string(kMaxXmlBytes) + " accepted");
  }
  // libxml2 would take a NUL for the end of the input and report a misleading error.
  if (const auto nul = text.find('\0'); nul != std::string_view::npos) {
    throw XmlError("has a NUL byte at offset " + std::to_string(nul));
  }
  init_libxml2_once();

  ParseReport report;  // outlives the parser that points to it
  std::unique_ptr<xmlParserCtxt, FreeParserContext> parser(
      xmlCreateMemoryParserCtxt(text.data(), static_cast<int>(text.size())));
  if (!parser) throw XmlError("cannot be parsed: out of memory for a parser");
  parser->_private = &report;
  // Deliberately absent: XML_PARSE_NOENT, DTDLOAD, DTDATTR, XINCLUDE, HUGE.
  xmlCtxtUseOptions(parser.get(), XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                                      XML_PARSE_BIG_LINES);
  parser->sax->serror = record_error;
  parser->sax->internalSubset = refuse_doctype;
  xmlParseDocument(parser.get());
  std::unique_ptr<xmlDoc, FreeDoc> doc(std::exchange(parser->myDoc, nullptr));

  if (report.doctype_line > 0) {
    throw XmlError("has a DOCTYPE at line " + std::to_string(report.doctype_line) +
                   ", which is refused (entities are never expanded or fetched)");
  }
  if (parser->wellFormed == 0 || !doc) {
    std::string cause = report.first_fatal_error;
    if (cause.empty() && parser->lastError.message != nullptr) {
      cause = without_trailing_newline(parser->lastError.message);
    }
    throw XmlError("is not well-formed: " + (cause.empty() ? "no detail from libxml2" : cause));
  }
  return XmlDocument(std::move(doc));
}

std::vector<xmlNode*> XmlDocument::select(xmlNode& at, const char* xpath) {
  const std::unique_ptr<xmlXPathObject, FreeXPathObject> result(
      xmlXPathNodeEval(&at, reinterpret_cast<const xmlChar*>(xpath), xpath_.get()));
  // The expressions are ours; failing here means out of memory or a bug in the caller.
  if (!result) throw XmlError(std::string("cannot be queried with XPath ") + xpath);
  std::vector<xmlNode*> nodes;
  if (result->type == XPATH_NODESET && result->nodesetval != nullptr) {
    for (int i = 0; i < result->nodesetval->nodeNr; ++i) {
      xmlNode* node = result->nodesetval->nodeTab[i];
      if (node != nullptr && node->type == XML_ELEMENT_NODE) nodes.push_back(node);
    }
  }
  return nodes;
}

xmlNode* XmlDocument::select_first(xmlNode& at, const char* xpath) {
  const auto nodes = select(at, xpath);
  return nodes.empty() ? nullptr : nodes.front();
}

std::optional<std::string> attribute(const xmlNode& element, const char* name) {
  const XmlString value(xmlGetNoNsProp(&element, reinterpret_cast<const xmlChar*>(name)));
  if (!value) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(value.get()));
}

std::string text_of(const xmlNode& element) {
  const XmlString text(xmlNodeGetContent(&element));
  return text ? std::string(reinterpret_cast<const char*>(text.get())) : std::string();
}

long line_of(const xmlNode& node) { return xmlGetLineNo(&node); }

std::string_view name_of(const xmlNode& element) {
  return element.name != nullptr ? reinterpret_cast<const char*>(element.name) : "";
}

std::string XmlDocument::serialize() const {
  xmlChar* text = nullptr;
  int size = 0;
  xmlDocDumpMemoryEnc(doc_.get(), &text, &size, "UTF-8");
  if (!text) throw XmlError("could not be serialized");
  std::string out(reinterpret_cast<const char*>(text), static_cast<std::size_t>(size));
  xmlFree(text);
  return out;
}

}  // namespace perfkvm::host
