// The numeric conventions of a locale, read once at start.
//
// perf stat calls setlocale(LC_ALL, "") and prints its human output with printf, so its numbers
// follow the LC_NUMERIC the environment names (LC_ALL, then LC_NUMERIC, then LANG). perfkvm's
// CLIs read the same conventions here and hand them to the formatter, which stays pure; the
// process locale is put back as it was ("C"), so nothing else (CSV, JSON, the wire, CLI11's
// number parsing) can change with it.
//
// The static perfkvm copied into a guest carries its own glibc (Debian 12's 2.36) but no
// locale data: it loads the guest's (LOCPATH, /usr/lib/locale/locale-archive or
// /usr/lib/locale/NAME/) like any program. Where the locale is not installed, or was compiled
// by a glibc whose format this one cannot read, setlocale fails and perfkvm prints as perf does
// in the C locale: no separators.
#pragma once

#include <string>

#include "report/number_format.hpp"

namespace perfkvm::report {

// The LC_NUMERIC conventions of locale `name` ("" for the environment's, as setlocale(LC_ALL,
// "") picks it). A locale that cannot be loaded (not installed, or data this glibc cannot read,
// as in a static binary copied into another distribution) gives the C locale's conventions:
// setlocale fails in perf too, and perf then prints as in C. Sets and restores the process's
// LC_NUMERIC: call it before any other thread exists.
NumericLocale numeric_locale(const std::string& name);

}  // namespace perfkvm::report
