#include "data/image_checks.h"

#include <stb/stb_image.h>

#include <algorithm>
#include <climits>

#include "core/error.h"

namespace norma::data {
namespace {

uint32_t be16(const uint8_t* p) { return uint32_t(p[0]) << 8 | p[1]; }
uint32_t le16(const uint8_t* p) { return uint32_t(p[1]) << 8 | p[0]; }
uint32_t le32(const uint8_t* p) { return uint32_t(p[3]) << 24 | uint32_t(p[2]) << 16 | uint32_t(p[1]) << 8 | p[0]; }
uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

// JPEG: a run of segments "FF <marker> <16-bit length> <payload>" (some markers stand alone),
// entropy-coded data after each SOS. The walk follows stb's reader: bytes between segments are
// skipped, FF fill bytes before a marker too, and inside entropy-coded data any FF followed by
// a byte other than 00 (a stuffed FF) or D0-D7 (restart) is a marker. Every DHT segment's
// tables are read as stb reads them: past the segment's length while the length says more is
// due, and zeros past the end of the file.
void check_jpeg(const std::string& path, const uint8_t* b, size_t size) {
  auto at = [&](size_t i) -> uint32_t { return i < size ? b[i] : 0; };
  size_t p = 0;
  bool entropy = false;  // inside entropy-coded data (after an SOS header)
  while (p + 1 < size) {
    if (b[p] != 0xFF) {
      ++p;
      continue;
    }
    size_t q = p + 1;
    while (q < size && b[q] == 0xFF) ++q;  // fill bytes
    if (q >= size) break;
    const uint32_t m = b[q];
    if (entropy && (m == 0x00 || (m >= 0xD0 && m <= 0xD7))) {  // stuffed FF, restart marker
      p = q + 1;
      continue;
    }
    entropy = false;
    if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7) || m == 0x00) {  // no length
      p = q + 1;
      continue;
    }
    if (m == 0xD9) break;  // EOI
    if (q + 2 >= size) break;
    const uint32_t length = be16(b + q + 1);  // counts itself, not the marker
    if (m == 0xC4) {
      // DHT: tables of 1 byte class/id, 16 counts (codes of length 1..16), then the codes.
      int64_t left = int64_t(length) - 2;
      size_t t = q + 3;
      while (left > 0) {
        uint32_t codes = 0;
        for (size_t i = 1; i <= 16; ++i) codes += at(t + i);
        NORMA_CHECK(codes <= 256, "load_image: cannot decode ", path,
                    ": corrupt JPEG: the Huffman table (DHT) at byte ", t, " declares ", codes,
                    " codes, at most 256 are possible");
        t += 17 + codes;
        left -= 17 + int64_t(codes);
      }
    }
    p = q + 1 + length;
    entropy = m == 0xDA;  // SOS: entropy-coded data follows its header
  }
}

// PNG: the 8-byte signature, then chunks "<32-bit length> <type> <data> <CRC>" up to IEND.
void check_png(const std::string& path, const uint8_t* b, size_t size) {
  size_t p = 8;
  while (p + 8 <= size) {
    const uint64_t length = be32(b + p);
    const std::string type(reinterpret_cast<const char*>(b + p + 4), 4);
    NORMA_CHECK(length <= size - p - 8, "load_image: cannot decode ", path, ": corrupt PNG: chunk ", type,
                " at byte ", p, " declares ", length, " bytes of data, past the end of the file (", size, " bytes)");
    if (type == "IEND") break;
    p += 12 + length;  // length, type, data, CRC
  }
}

// BMP (the kinds stb reads: uncompressed or bit fields): the pixel rows, each padded to 4
// bytes, must lie in the file; stb would allocate the image and read zeros past the end.
void check_bmp(const std::string& path, const uint8_t* b, size_t size) {
  if (size < 30) return;  // stb reports a short header itself
  const uint64_t offset = le32(b + 10), header = le32(b + 14);
  int64_t w, h;
  uint64_t bpp;
  if (header == 12) {
    w = le16(b + 18), h = le16(b + 20), bpp = le16(b + 24);
  } else {
    w = int32_t(le32(b + 18)), h = int32_t(le32(b + 22)), bpp = le16(b + 28);
  }
  if (w <= 0 || h == 0 || bpp == 0) return;  // stb rejects these
  const uint64_t rows = uint64_t(h < 0 ? -h : h), row_bytes = (uint64_t(w) * bpp + 31) / 32 * 4;
  NORMA_CHECK(offset <= size && rows * row_bytes <= size - offset, "load_image: cannot decode ", path,
              ": corrupt BMP: a ", w, "x", rows, " image of ", bpp, "-bit pixels needs ", rows * row_bytes,
              " bytes from byte ", offset, ", the file has ", size, " bytes");
}

}  // namespace

void check_image_bytes(const std::string& path, const uint8_t* b, size_t size) {
  static const uint8_t png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  size_t ff = 0;  // stb takes FF (FF ...) D8 as the start of a JPEG
  while (ff < size && b[ff] == 0xFF) ++ff;
  const bool jpeg = ff >= 1 && ff < size && b[ff] == 0xD8;
  if (size >= 8 && std::equal(png, png + 8, b)) {
    check_png(path, b, size);
  } else if (jpeg) {
    check_jpeg(path, b, size);
  } else if (size >= 2 && b[0] == 'B' && b[1] == 'M') {
    check_bmp(path, b, size);
  } else {
    throw Error("load_image: cannot decode " + path + ": not a PNG, JPEG or BMP file (by its first bytes)");
  }
  // Header only: the size stb would decode to (none when stb cannot read the header: it says
  // why when it decodes).
  int w = 0, h = 0, n = 0;
  if (!stbi_info_from_memory(b, int(std::min<size_t>(size, INT_MAX)), &w, &h, &n)) return;
  NORMA_CHECK(int64_t(w) * h <= kMaxImagePixels, "load_image: cannot decode ", path, ": a ", w, "x", h,
              " image is larger than norma decodes (at most ", kMaxImagePixels, " pixels, 4096 x 4096)");
  // A JPEG codes every 8x8 block of its full-resolution component with at least one bit (its
  // DC code), so it holds at least w * h / 512 bytes; past its end stb decodes zeros, slowly.
  if (jpeg)
    NORMA_CHECK(uint64_t(w) * uint64_t(h) <= 512 * uint64_t(size), "load_image: cannot decode ", path,
                ": corrupt JPEG: a ", w, "x", h, " image cannot fit in ", size,
                " bytes (at least one bit per 8x8 block)");
}

}  // namespace norma::data
