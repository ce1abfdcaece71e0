#include "report/numeric_locale.hpp"

#include <clocale>

namespace perfkvm::report {

NumericLocale numeric_locale(const std::string& name) {
  // setlocale and localeconv, not newlocale and nl_langinfo_l: a static glibc loads a
  // category's data only for code that reads it through the global locale (localeconv links
  // LC_NUMERIC in); with newlocale a static perfkvm silently got the C conventions.
  const char* current = std::setlocale(LC_NUMERIC, nullptr);
  const std::string previous = current != nullptr ? current : "C";
  if (std::setlocale(LC_NUMERIC, name.c_str()) == nullptr) return NumericLocale{};
  const std::lconv* conventions = std::localeconv();
  NumericLocale numeric;
  if (conventions->decimal_point != nullptr && *conventions->decimal_point != '\0') {
    numeric.decimal_point = conventions->decimal_point;
  }
  if (conventions->thousands_sep != nullptr) numeric.thousands_sep = conventions->thousands_sep;
  if (conventions->grouping != nullptr) numeric.grouping = conventions->grouping;
  std::setlocale(LC_NUMERIC, previous.c_str());
  return numeric;
}

}  // namespace perfkvm::report
