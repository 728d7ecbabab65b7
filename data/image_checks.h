// Checks on an image file's bytes before stb_image decodes them. Debian's stb_image (libstb,
// git 20220908, stb_image 2.27) mishandles two malformed inputs that fuzzing found
// (tests/fuzz/regressions/image/, docs/reliability/fuzzing.md):
//   - a JPEG Huffman table (DHT) declaring more than 256 codes: stb copies them into 256-byte
//     tables, writing out of bounds (fixed upstream in 2.28);
//   - a PNG chunk whose length runs past the end of the file: stb grows its IDAT buffer to the
//     declared length first (up to 1 GiB, doubled: ~1.6 GB allocated for a 100-byte file).
// And what makes stb spend seconds and gigabytes on a small file: formats other than PNG, JPEG
// and BMP (image_folder's; stb would try TGA, PSD, ... on anything), BMP pixel data past the end
// of the file, and images of more than kMaxImagePixels. Faults stb reports itself pass through.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace norma::data {

constexpr int64_t kMaxImagePixels = int64_t(1) << 24;  // 4096 x 4096

// Throws norma::Error naming `path` and the fault when the bytes hold one of the above.
void check_image_bytes(const std::string& path, const uint8_t* bytes, size_t size);

}  // namespace norma::data
