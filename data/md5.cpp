// MD5 as RFC 1321 states it: the message is padded with a 1 bit, zeros, and its length in bits
// (64-bit little-endian) to a multiple of 512 bits; each 64-byte block updates the state
// (a, b, c, d) in 64 steps, four rounds of 16 with the functions F, G, H, I:
//   a = b + rotl(a + f(b, c, d) + X[k] + T[i], s)
// where T[i] = floor(2^32 |sin(i + 1)|), X the block as sixteen little-endian words.
#include "data/md5.h"

#include <cstring>

namespace norma::data {
namespace {

// Shift amounts per step, and T[i] (precomputed from the sine formula above).
const uint32_t kShift[64] = {7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                             5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
                             4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                             6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};
const uint32_t kT[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391};

uint32_t rotl(uint32_t x, uint32_t s) { return (x << s) | (x >> (32 - s)); }

}  // namespace

Md5::Md5() : state_{0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476} {}

void Md5::block(const uint8_t* p) {
  uint32_t x[16];
  for (int i = 0; i < 16; ++i)
    x[i] = uint32_t(p[4 * i]) | uint32_t(p[4 * i + 1]) << 8 | uint32_t(p[4 * i + 2]) << 16 | uint32_t(p[4 * i + 3]) << 24;
  uint32_t a = state_[0], b = state_[1], c = state_[2], d = state_[3];
  for (int i = 0; i < 64; ++i) {
    uint32_t f, k;
    if (i < 16) {         // F(b, c, d) = (b & c) | (~b & d), words in order
      f = (b & c) | (~b & d);
      k = i;
    } else if (i < 32) {  // G(b, c, d) = (b & d) | (c & ~d), words 1, 6, 11, ...
      f = (b & d) | (c & ~d);
      k = (5 * i + 1) % 16;
    } else if (i < 48) {  // H(b, c, d) = b ^ c ^ d, words 5, 8, 11, ...
      f = b ^ c ^ d;
      k = (3 * i + 5) % 16;
    } else {              // I(b, c, d) = c ^ (b | ~d), words 0, 7, 14, ...
      f = c ^ (b | ~d);
      k = (7 * i) % 16;
    }
    // a = b + rotl(a + f + X[k] + T[i], s), then the registers rotate (a, b, c, d) <- (d, a', b, c).
    uint32_t next = b + rotl(a + f + x[k] + kT[i], kShift[i]);
    a = d;
    d = c;
    c = b;
    b = next;
  }
  state_[0] += a;
  state_[1] += b;
  state_[2] += c;
  state_[3] += d;
}

void Md5::update(const void* data, size_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  length_ += n;
  if (buffered_ > 0) {  // top up a partial block first
    size_t take = n < 64 - buffered_ ? n : 64 - buffered_;
    std::memcpy(buffer_ + buffered_, p, take);
    buffered_ += take;
    p += take;
    n -= take;
    if (buffered_ < 64) return;
    block(buffer_);
    buffered_ = 0;
  }
  for (; n >= 64; p += 64, n -= 64) block(p);
  std::memcpy(buffer_, p, n);
  buffered_ = n;
}

std::string Md5::hex_digest() {
  // Padding: 0x80, zeros up to 56 mod 64, then the bit length, little-endian.
  const uint64_t bits = length_ * 8;
  const uint8_t one = 0x80, zero = 0;
  update(&one, 1);
  while (buffered_ != 56) update(&zero, 1);
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = uint8_t(bits >> (8 * i));
  update(len, 8);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (uint32_t s : state_)
    for (int i = 0; i < 4; ++i) {
      uint8_t byte = uint8_t(s >> (8 * i));
      out += hex[byte >> 4];
      out += hex[byte & 15];
    }
  return out;
}

std::string md5_hex(const std::string& bytes) {
  Md5 md5;
  md5.update(bytes.data(), bytes.size());
  return md5.hex_digest();
}

}  // namespace norma::data
