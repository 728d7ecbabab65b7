#include "data/image_folder.h"

#include <stb/stb_image.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "core/error.h"
#include "data/image_checks.h"

namespace norma::data {
namespace fs = std::filesystem;

namespace {

bool is_image(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}

// Where output position i (of n_out) samples the input (of n_in): pixel centers line up,
// src = (i + 0.5) * n_in / n_out - 0.5, clamped to the image; lo and hi are the neighbours,
// frac the weight of hi.
struct Tap {
  int64_t lo, hi;
  float frac;
};
Tap tap(int64_t i, int64_t n_in, int64_t n_out) {
  float src = (float(i) + 0.5f) * float(n_in) / float(n_out) - 0.5f;
  src = std::clamp(src, 0.f, float(n_in - 1));
  const int64_t lo = int64_t(src);
  return {lo, std::min(lo + 1, n_in - 1), src - float(lo)};
}

}  // namespace

std::vector<uint8_t> resize_bilinear(const uint8_t* src, int64_t h, int64_t w, int64_t c, int64_t out_h, int64_t out_w) {
  NORMA_CHECK(h > 0 && w > 0 && c > 0 && out_h > 0 && out_w > 0, "resize_bilinear: expected positive sizes, got ", h, "x",
              w, "x", c, " to ", out_h, "x", out_w);
  std::vector<uint8_t> out(size_t(out_h * out_w * c));
  for (int64_t y = 0; y < out_h; ++y) {
    const Tap ty = tap(y, h, out_h);
    for (int64_t x = 0; x < out_w; ++x) {
      const Tap tx = tap(x, w, out_w);
      for (int64_t k = 0; k < c; ++k) {
        auto at = [&](int64_t yy, int64_t xx) { return float(src[(yy * w + xx) * c + k]); };
        // Interpolate along x on the two rows, then along y between them.
        const float top = at(ty.lo, tx.lo) + tx.frac * (at(ty.lo, tx.hi) - at(ty.lo, tx.lo));
        const float bottom = at(ty.hi, tx.lo) + tx.frac * (at(ty.hi, tx.hi) - at(ty.hi, tx.lo));
        const float v = top + ty.frac * (bottom - top);
        out[size_t((y * out_w + x) * c + k)] = uint8_t(std::clamp(std::lround(v), 0L, 255L));
      }
    }
  }
  return out;
}

std::vector<uint8_t> load_image(const std::string& path, int64_t height, int64_t width, int64_t channels) {
  NORMA_CHECK(channels == 1 || channels == 3, "load_image: channels must be 1 or 3, got ", channels);
  NORMA_CHECK(height > 0 && width > 0, "load_image: expected a positive size, got ", height, "x", width);
  std::ifstream in(path, std::ios::binary);
  NORMA_CHECK(in, "load_image: cannot open ", path, ": ", std::strerror(errno));
  const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  NORMA_CHECK(bytes.size() <= size_t(INT_MAX), "load_image: ", path, ": ", bytes.size(),
              " bytes, more than stb_image reads");
  check_image_bytes(path, bytes.data(), bytes.size());  // what stb itself mishandles
  int w = 0, h = 0, n = 0;
  // Converted to `channels` by stb. Owned here, so that no error below leaks it.
  const std::unique_ptr<uint8_t, void (*)(void*)> pixels(
      stbi_load_from_memory(bytes.data(), int(bytes.size()), &w, &h, &n, int(channels)), stbi_image_free);
  NORMA_CHECK(pixels, "load_image: cannot decode ", path, ": ", stbi_failure_reason());
  // stb decodes a BMP that declares 0 rows to an empty image (found by fuzzing).
  NORMA_CHECK(w > 0 && h > 0, "load_image: cannot decode ", path, ": the image is empty (", w, "x", h, ")");
  std::vector<uint8_t> hwc;
  if (h == height && w == width)
    hwc.assign(pixels.get(), pixels.get() + size_t(h) * size_t(w) * size_t(channels));
  else
    hwc = resize_bilinear(pixels.get(), h, w, channels, height, width);
  // Interleaved [H, W, C] to planar [C, H, W].
  std::vector<uint8_t> chw(hwc.size());
  for (int64_t k = 0; k < channels; ++k)
    for (int64_t i = 0; i < height * width; ++i) chw[size_t(k * height * width + i)] = hwc[size_t(i * channels + k)];
  return chw;
}

ImageDataset load_image_folder(const std::string& root, int64_t height, int64_t width, int64_t channels) {
  NORMA_CHECK(fs::is_directory(root), "image_folder: ", root, " is not a directory");
  std::vector<fs::path> class_dirs;
  for (const auto& entry : fs::directory_iterator(root))
    if (entry.is_directory()) class_dirs.push_back(entry.path());
  std::sort(class_dirs.begin(), class_dirs.end());
  NORMA_CHECK(!class_dirs.empty(), "image_folder: ", root, " has no sub-folders (one per class expected)");

  std::vector<std::string> class_names;
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
  for (const fs::path& dir : class_dirs) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir))
      if (entry.is_regular_file() && is_image(entry.path())) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    NORMA_CHECK(!files.empty(), "image_folder: ", dir.string(), " has no .png, .jpg, .jpeg or .bmp images");
    for (const fs::path& f : files) {
      std::vector<uint8_t> image = load_image(f.string(), height, width, channels);
      pixels.insert(pixels.end(), image.begin(), image.end());
      labels.push_back(int64_t(class_names.size()));
    }
    class_names.push_back(dir.filename().string());
  }
  return ImageDataset({channels, height, width}, std::move(pixels), std::move(labels), std::move(class_names));
}

}  // namespace norma::data
