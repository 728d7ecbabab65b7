// MD5 (RFC 1321), to check downloaded data files against the checksums kept in data/fetch.cpp.
// Not for security: MD5 is broken for that, but it is what the data sets publish.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace norma::data {

class Md5 {
 public:
  Md5();
  void update(const void* data, size_t n);
  // The digest as 32 lowercase hex digits. Call once, after the last update().
  std::string hex_digest();

 private:
  void block(const uint8_t* p);  // one 64-byte block into the state
  uint32_t state_[4];
  uint64_t length_ = 0;          // bytes seen
  uint8_t buffer_[64];
  size_t buffered_ = 0;
};

std::string md5_hex(const std::string& bytes);

}  // namespace norma::data
