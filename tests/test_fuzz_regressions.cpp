// Every input that fuzzing found crashing a reader (tests/fuzz/regressions/<target>/, see
// docs/reliability/fuzzing.md) is fed to the real reader, the way its fuzz target feeds it
// (tests/fuzz/feed.h), and must be rejected with a norma::Error that names the file and the
// fault; the named files also with their expected message.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <vector>

#include "core/error.h"
#include "fuzz/feed.h"

namespace fs = std::filesystem;

namespace {
using Feed = void (*)(const uint8_t*, size_t);
const std::map<std::string, Feed> kFeeds = {{"idx", norma_fuzz::feed_idx},
                                            {"cifar10", norma_fuzz::feed_cifar10},
                                            {"safetensors", norma_fuzz::feed_safetensors},
                                            {"checkpoint", norma_fuzz::feed_checkpoint},
                                            {"image", norma_fuzz::feed_image}};

std::vector<uint8_t> read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// The message feeding `file` (tests/fuzz/regressions/<target>/<file>) throws; fails the test
// when it throws nothing or something other than norma::Error.
std::string rejection(const std::string& target, const std::string& file) {
  const std::vector<uint8_t> bytes = read(fs::path(NORMA_FUZZ_REGRESSIONS_DIR) / target / file);
  REQUIRE(!bytes.empty());
  try {
    kFeeds.at(target)(bytes.data(), bytes.size());
  } catch (const norma::Error& e) {
    return e.what();
  }
  FAIL("accepted: " << target << "/" << file);
  return "";
}
}  // namespace

TEST_CASE("fuzz regressions: each crashing input is now rejected with a norma::Error naming the file") {
  size_t n = 0;
  for (const auto& dir : fs::directory_iterator(NORMA_FUZZ_REGRESSIONS_DIR)) {
    const std::string target = dir.path().filename().string();
    REQUIRE_MESSAGE(kFeeds.count(target), "no reader for tests/fuzz/regressions/", target);
    for (const auto& f : fs::directory_iterator(dir.path())) {
      CAPTURE(f.path().string());
      const std::string msg = rejection(target, f.path().filename().string());
      CHECK(msg.find(norma_fuzz::scratch_path("")) != std::string::npos);  // names the file
      ++n;
    }
  }
  CHECK(n >= 5);
}

TEST_CASE("fuzz regressions: the image findings are refused, each with its reason") {
  // (file, what the message says); the first two crashed or overran Debian's stb_image, the
  // next two kept it busy past the fuzzer's 10 s timeout, and the last (a BMP of 0 rows, which
  // stb decodes to an empty image) leaked stb's buffer when the resize refused it.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"jpeg_dht_more_than_256_codes.jpg", "corrupt JPEG: the Huffman table (DHT) at byte 206 declares 3057 codes"},
      {"png_chunk_past_eof.png", "corrupt PNG: chunk IDAT at byte 33 declares 1313079321 bytes of data, past the end"},
      {"not_an_image_tga_timeout.txt", "not a PNG, JPEG or BMP file"},
      {"jpeg_65285x247_in_714_bytes_timeout.jpg", "a 65285x247 image cannot fit in 714 bytes"},
      {"bmp_zero_rows_leak.bmp", "the image is empty (5x0)"},
  };
  for (const auto& [file, expected] : cases) {
    CAPTURE(file);
    CHECK(rejection("image", file).find(expected) != std::string::npos);
  }
  // The other limits of data/image_checks.cpp, on headers written here: a BMP whose rows run
  // past the end of the file, and a PNG of more than 2^24 pixels (IHDR only).
  auto le32 = [](uint32_t v) { return std::string{char(v), char(v >> 8), char(v >> 16), char(v >> 24)}; };
  auto be32 = [](uint32_t v) { return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; };
  const std::string bmp = "BM" + le32(54 + 12) + le32(0) + le32(54) + le32(40) + le32(10000) + le32(10000) +
                          std::string("\x01\0\x18\0", 4) + std::string(24, '\0') + std::string(12, '\x7f');
  auto feed = [](const std::string& bytes) {
    try {
      norma_fuzz::feed_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    } catch (const norma::Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  CHECK(feed(bmp).find("corrupt BMP: a 10000x10000 image of 24-bit pixels needs 300000000 bytes from byte 54") !=
        std::string::npos);
  const std::string png = std::string("\x89PNG\r\n\x1a\n", 8) + be32(13) + "IHDR" + be32(5000) + be32(4000) +
                          std::string("\x08\x02\0\0\0", 5) + be32(0);
  CHECK(feed(png).find("a 5000x4000 image is larger than norma decodes (at most 16777216 pixels") != std::string::npos);
}
