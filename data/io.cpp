#include "data/io.h"

#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "data/md5.h"

namespace norma::data {
namespace {

// Streams a file's content (gzread passes non-gzip files through unchanged) to `sink`.
template <typename Sink>
void stream_content(const std::string& path, Sink sink) {
  errno = 0;
  gzFile f = gzopen(path.c_str(), "rb");
  NORMA_CHECK(f, "cannot open ", path, errno ? ": " : "", errno ? std::strerror(errno) : "");
  gzbuffer(f, 1 << 20);
  std::vector<uint8_t> chunk(size_t(1) << 20);
  for (;;) {
    int n = gzread(f, chunk.data(), unsigned(chunk.size()));
    if (n < 0) {
      int code = 0;
      std::string why = gzerror(f, &code);
      gzclose(f);
      throw Error("cannot read " + path + ": " + why);
    }
    if (n == 0) break;
    sink(chunk.data(), size_t(n));
  }
  // A gzip stream cut short reads as a clean end on some zlib versions: gzclose reports it.
  int rc = gzclose(f);
  NORMA_CHECK(rc == Z_OK, "cannot read ", path, ": truncated or corrupt gzip stream");
}

}  // namespace

std::vector<uint8_t> read_file(const std::string& path) {
  std::vector<uint8_t> bytes;
  FILE* f = std::fopen(path.c_str(), "rb");
  NORMA_CHECK(f, "cannot open ", path, ": ", std::strerror(errno));
  if (!std::filesystem::is_regular_file(path)) {
    std::fclose(f);
    throw Error("cannot read " + path + ": not a regular file");
  }
  uint8_t magic[2] = {0, 0};
  const bool gzip = std::fread(magic, 1, 2, f) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
  if (!gzip) {  // raw: one read of the known size (several times faster than through zlib)
    std::fseek(f, 0, SEEK_END);
    bytes.resize(size_t(std::ftell(f)));
    std::rewind(f);
    const bool ok = std::fread(bytes.data(), 1, bytes.size(), f) == bytes.size();
    std::fclose(f);
    NORMA_CHECK(ok, "cannot read ", path, ": ", std::strerror(errno));
    return bytes;
  }
  std::fclose(f);
  stream_content(path, [&](const uint8_t* p, size_t n) { bytes.insert(bytes.end(), p, p + n); });
  return bytes;
}

ContentSum content_sum(const std::string& path) {
  Md5 md5;
  ContentSum sum;
  stream_content(path, [&](const uint8_t* p, size_t n) {
    md5.update(p, n);
    sum.size += int64_t(n);
  });
  sum.md5 = md5.hex_digest();
  return sum;
}

std::string resolve_data_dir(const std::string& flag) {
  if (!flag.empty()) return flag;
  const char* env = std::getenv("NORMA_DATA");
  if (env && *env) return env;
  return "data";
}

}  // namespace norma::data
