// Helpers for the data tests: a scratch folder per test, and small files written byte by byte.
#pragma once
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/random.h"

// CHECK_ERROR(expr, text): expr throws norma::Error whose message contains text (a std::string
// or a literal).
#define CHECK_ERROR(expr, text) \
  CHECK_THROWS_WITH_AS(expr, doctest::Contains(doctest::String(std::string(text).c_str())), norma::Error)

namespace norma_test {
namespace fs = std::filesystem;

// A fresh folder under the system temp dir, removed with its content at the end of the scope.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name)
      : path(fs::temp_directory_path() / ("norma_" + name + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

inline void write_bytes(const std::string& path, const std::string& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

inline void write_gzip(const std::string& path, const std::string& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, bytes.data(), unsigned(bytes.size()));
  gzclose(f);
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline std::string be32(uint32_t v) {
  return {char(v >> 24), char((v >> 16) & 0xff), char((v >> 8) & 0xff), char(v & 0xff)};
}

// IDX images (magic 2051): n images of rows x cols, pixel k of the file = (k * 7) % 256.
inline std::string idx_images(uint32_t n, uint32_t rows, uint32_t cols, uint32_t magic = 2051) {
  std::string s = be32(magic) + be32(n) + be32(rows) + be32(cols);
  for (uint32_t k = 0; k < n * rows * cols; ++k) s += char((k * 7) % 256);
  return s;
}

// IDX labels (magic 2049).
inline std::string idx_labels(const std::vector<int>& labels, uint32_t magic = 2049) {
  std::string s = be32(magic) + be32(uint32_t(labels.size()));
  for (int l : labels) s += char(l);
  return s;
}


// A gzipped MNIST look-alike in data_dir/mnist: for each image a class c is drawn from `gen`,
// then its 28x28 pixels come from pixel(c, y, x) in row-major order. Gzipped files count as
// present without the real files' sizes, so nothing is fetched.
template <class Pixel>
void write_synthetic_mnist(const std::string& data_dir, int train_n, int test_n, norma::Generator& gen, Pixel pixel) {
  auto images = [&](int n, std::vector<int>& labels) {
    std::string s = be32(2051) + be32(uint32_t(n)) + be32(28) + be32(28);
    for (int i = 0; i < n; ++i) {
      const int c = int(gen.randint(10));
      labels.push_back(c);
      for (int y = 0; y < 28; ++y)
        for (int x = 0; x < 28; ++x) s += char(pixel(c, y, x));
    }
    return s;
  };
  std::vector<int> train_labels, test_labels;
  const std::string train = images(train_n, train_labels), test = images(test_n, test_labels);
  write_gzip(data_dir + "/mnist/train-images-idx3-ubyte.gz", train);
  write_gzip(data_dir + "/mnist/train-labels-idx1-ubyte.gz", idx_labels(train_labels));
  write_gzip(data_dir + "/mnist/t10k-images-idx3-ubyte.gz", test);
  write_gzip(data_dir + "/mnist/t10k-labels-idx1-ubyte.gz", idx_labels(test_labels));
}

// The training tests' MNIST: class c is a bright bar on row 2c + 4 over faint seeded noise, so
// a model learns it in a few steps.
inline void write_tiny_mnist(const std::string& data_dir, int train_n, int test_n) {
  norma::Generator gen(7);
  write_synthetic_mnist(data_dir, train_n, test_n, gen,
                        [&](int c, int y, int) { return y == 2 * c + 4 ? 250 : int(gen.randint(40)); });
}

}  // namespace norma_test
