// A libxml2 document parsed from untrusted text, queried with XPath as libvirt does.
// Parsing never touches the network or the file system, refuses any DOCTYPE (so no entity
// can be expanded or fetched), caps the input size and keeps libxml2's depth limits.
#pragma once

#include <libxml/tree.h>
#include <libxml/xpath.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace perfkvm::host {

// The message completes a sentence about the input: "is not well-formed: line 3: ...", so
// callers prefix what the input was ("domain XML ").
class XmlError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// libvirt's RPC caps a string at 4 MiB (REMOTE_STRING_MAX); a QEMU status file adds
// libvirt's private data to the live XML, so twice that is ample.
inline constexpr std::size_t kMaxXmlBytes = 8 * 1024 * 1024;

class XmlDocument {
 public:
  static XmlDocument parse(std::string_view text);

  xmlNode& root() const { return *root_; }
  xmlDoc& doc() const { return *doc_; }

  // The document as XML text (for editing: a domain definition handed back to libvirt).
  std::string serialize() const;

  // Element nodes matching `xpath` with `at` as the context node, in document order.
  std::vector<xmlNode*> select(xmlNode& at, const char* xpath);
  xmlNode* select_first(xmlNode& at, const char* xpath);

 private:
  struct FreeDoc {
    void operator()(xmlDoc* doc) const noexcept { xmlFreeDoc(doc); }
  };
  struct FreeXPathContext {
    void operator()(xmlXPathContext* context) const noexcept { xmlXPathFreeContext(context); }
  };

  explicit XmlDocument(std::unique_ptr<xmlDoc, FreeDoc> doc);

  std::unique_ptr<xmlDoc, FreeDoc> doc_;
  xmlNode* root_ = nullptr;
  // Declared after doc_: it points into the document and must go first.
  std::unique_ptr<xmlXPathContext, FreeXPathContext> xpath_;
};

// Attribute without namespace, as libvirt reads them (virXMLPropString).
std::optional<std::string> attribute(const xmlNode& element, const char* name);
// All text below the element.
std::string text_of(const xmlNode& element);
long line_of(const xmlNode& node);
std::string_view name_of(const xmlNode& element);

}  // namespace perfkvm::host
