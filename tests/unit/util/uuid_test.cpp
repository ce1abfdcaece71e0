#include "util/uuid.hpp"

#include <doctest/doctest.h>

#include <string>

TEST_CASE("is_canonical_uuid: libvirt's form and nothing else") {
  CHECK(perfkvm::is_canonical_uuid("6f1a52a4-6c0e-4b7e-9d3c-0a1b2c3d4e01"));
  CHECK(perfkvm::is_canonical_uuid("6F1A52A4-6C0E-4B7E-9D3C-0A1B2C3D4E01"));
  CHECK_FALSE(perfkvm::is_canonical_uuid(""));
  CHECK_FALSE(perfkvm::is_canonical_uuid("6f1a52a46c0e4b7e9d3c0a1b2c3d4e01"));       // no dashes
  CHECK_FALSE(perfkvm::is_canonical_uuid("6f1a52a4-6c0e-4b7e-9d3c-0a1b2c3d4e0"));    // short
  CHECK_FALSE(perfkvm::is_canonical_uuid("6f1a52a4-6c0e-4b7e-9d3c-0a1b2c3d4e012"));  // long
  CHECK_FALSE(perfkvm::is_canonical_uuid("6f1a52a4-6c0e-4b7e-9d3c-0a1b2c3d4e0g"));   // not hex
  CHECK_FALSE(perfkvm::is_canonical_uuid("6f1a52a4-6c0e-4b7e9-d3c-0a1b2c3d4e01"));   // dash moved
  CHECK_FALSE(perfkvm::is_canonical_uuid("../../../etc/passwd-0000-0000-000000000"));
  CHECK_FALSE(perfkvm::is_canonical_uuid(std::string("6f1a52a4-6c0e-4b7e-9d3c-0a1b2c3d4e0\0", 36)));
}
