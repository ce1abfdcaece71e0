// RAII for libvirt objects, and libvirt's last error as text.
#pragma once

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <memory>
#include <string>

namespace perfkvm::host {

struct ConnectCloser {
  void operator()(virConnectPtr connection) const { virConnectClose(connection); }
};
struct DomainFreer {
  void operator()(virDomainPtr domain) const { virDomainFree(domain); }
};
struct CharFreer {
  void operator()(char* text) const { free(text); }  // NOLINT: libvirt allocates with malloc
};

using ConnectPtr = std::unique_ptr<virConnect, ConnectCloser>;
using DomainPtr = std::unique_ptr<virDomain, DomainFreer>;
using LibvirtString = std::unique_ptr<char, CharFreer>;

// The calling thread's last libvirt error message, or `fallback` if there is none.
inline std::string libvirt_error(const std::string& fallback = "unknown libvirt error") {
  const virError* error = virGetLastError();
  return error && error->message ? std::string(error->message) : fallback;
}

// Libvirt prints errors to stderr by default; perfkvm reports them itself.
// Call virInitialize() first.
inline void silence_libvirt_default_errors() {
  virSetErrorFunc(nullptr, [](void*, virErrorPtr) {});
}

}  // namespace perfkvm::host
