#include "data/transforms.h"

#include <algorithm>
#include <sstream>

#include "core/error.h"

namespace norma::data {

Normalize::Normalize(std::vector<float> mean, std::vector<float> std) : mean_(std::move(mean)), std_(std::move(std)) {
  NORMA_CHECK(!mean_.empty() && mean_.size() == std_.size(), "Normalize: expected as many means as stds (at least one), got ",
              mean_.size(), " and ", std_.size());
  for (float s : std_) NORMA_CHECK(s > 0.f, "Normalize: std must be > 0, got ", s);
}

void Normalize::apply(float* image, int64_t channels, int64_t height, int64_t width, Generator&) const {
  const int64_t n = int64_t(mean_.size());
  NORMA_CHECK(n == 1 || n == channels, "Normalize: ", n, " means for an image of ", channels, " channels");
  const int64_t plane = height * width;
  for (int64_t c = 0; c < channels; ++c) {
    // A division, not a multiplication by 1/std: the same rounding as torchvision's sub_().div_().
    const float mean = mean_[size_t(n == 1 ? 0 : c)], std = std_[size_t(n == 1 ? 0 : c)];
    float* p = image + c * plane;
    for (int64_t i = 0; i < plane; ++i) p[i] = (p[i] - mean) / std;
  }
}

std::string Normalize::repr() const {
  std::ostringstream os;
  os << "Normalize(mean=[";
  for (size_t i = 0; i < mean_.size(); ++i) os << (i ? ", " : "") << mean_[i];
  os << "], std=[";
  for (size_t i = 0; i < std_.size(); ++i) os << (i ? ", " : "") << std_[i];
  os << "])";
  return os.str();
}

RandomCrop::RandomCrop(int64_t padding) : padding_(padding) {
  NORMA_CHECK(padding >= 0, "RandomCrop: padding must be >= 0, got ", padding);
}

void RandomCrop::apply(float* image, int64_t channels, int64_t height, int64_t width, Generator& gen) const {
  // Offsets top, left uniform in [0, 2 * padding] in the padded frame = shifts in [-padding, padding].
  const int64_t dy = int64_t(gen.randint(uint64_t(2 * padding_ + 1))) - padding_;
  const int64_t dx = int64_t(gen.randint(uint64_t(2 * padding_ + 1))) - padding_;
  shift(image, channels, height, width, dy, dx);
}

std::string RandomCrop::repr() const { return "RandomCrop(padding=" + std::to_string(padding_) + ")"; }

RandomHorizontalFlip::RandomHorizontalFlip(float p) : p_(p) {
  NORMA_CHECK(p >= 0.f && p <= 1.f, "RandomHorizontalFlip: p must be in [0, 1], got ", p);
}

void RandomHorizontalFlip::apply(float* image, int64_t channels, int64_t height, int64_t width, Generator& gen) const {
  if (gen.uniform() < p_) hflip(image, channels, height, width);
}

std::string RandomHorizontalFlip::repr() const {
  std::ostringstream os;
  os << "RandomHorizontalFlip(p=" << p_ << ")";
  return os.str();
}

void hflip(float* image, int64_t channels, int64_t height, int64_t width) {
  for (int64_t r = 0; r < channels * height; ++r) std::reverse(image + r * width, image + (r + 1) * width);
}

void shift(float* image, int64_t channels, int64_t height, int64_t width, int64_t dy, int64_t dx) {
  if (dy == 0 && dx == 0) return;
  // Rows move within a plane: walk them in the order that never reads a row already written
  // (downwards when content moves up, dy > 0), and shift within each row through a copy.
  thread_local std::vector<float> row;
  row.resize(size_t(width));
  for (int64_t c = 0; c < channels; ++c) {
    float* plane = image + c * height * width;
    for (int64_t i = 0; i < height; ++i) {
      const int64_t y = dy >= 0 ? i : height - 1 - i;
      float* out = plane + y * width;
      const int64_t src_y = y + dy;
      if (src_y < 0 || src_y >= height) {
        std::fill(out, out + width, 0.f);
        continue;
      }
      std::copy(plane + src_y * width, plane + (src_y + 1) * width, row.begin());
      for (int64_t x = 0; x < width; ++x) {
        const int64_t src_x = x + dx;
        out[x] = src_x >= 0 && src_x < width ? row[size_t(src_x)] : 0.f;
      }
    }
  }
}

Transforms standard_transforms(const std::string& dataset, bool augment) {
  Transforms t;
  if (dataset == "mnist") {
    t.push_back(std::make_shared<Normalize>(kMnistMean, kMnistStd));
  } else if (dataset == "fashion-mnist") {
    t.push_back(std::make_shared<Normalize>(kFashionMnistMean, kFashionMnistStd));
  } else if (dataset == "cifar10") {
    if (augment) {
      t.push_back(std::make_shared<RandomCrop>(4));
      t.push_back(std::make_shared<RandomHorizontalFlip>());
    }
    t.push_back(std::make_shared<Normalize>(kCifar10Mean, kCifar10Std));
  } else {
    throw Error("standard_transforms: unknown data set '" + dataset + "' (expected mnist, fashion-mnist or cifar10)");
  }
  return t;
}

}  // namespace norma::data
