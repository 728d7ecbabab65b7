// Every input that fuzzing found crashing a reader (tests/fuzz/regressions/<target>/, see
// docs/reliability-fuzz.md) is fed to the real reader, the way its fuzz target feeds it
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
  CHECK(n >= 4);
}

TEST_CASE("fuzz regressions: the image findings are refused before stb_image, each with its reason") {
  // (file, what the message says); the first two crashed or overran Debian's stb_image, the
  // last two kept it busy past the fuzzer's 10 s timeout.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"jpeg_dht_more_than_256_codes.jpg", "corrupt JPEG: the Huffman table (DHT) at byte 174 declares 274 codes"},
      {"png_chunk_past_eof.png", "corrupt PNG: chunk IDAT at byte"},
      {"not_an_image_tga_timeout.txt", "not a PNG, JPEG or BMP file"},
      {"jpeg_65285x247_in_714_bytes_timeout.jpg", "a 65285x247 image cannot fit in 714 bytes"},
  };
  for (const auto& [file, expected] : cases) {
    CAPTURE(file);
    CHECK(rejection("image", file).find(expected) != std::string::npos);
  }
}
