// Per-image transforms. The loader scales each image to floats in [0, 1] ([C, H, W], row-major)
// and runs its transforms in order on it: typically augmentation (random crop, flip) and then
// per-channel normalization. Random choices come from a Generator the loader derives from
// (seed, epoch, example index), so an example's augmentation depends neither on thread timing,
// nor on batch order, nor on where a resumed epoch started.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/random.h"

namespace norma::data {

// Per-channel statistics of the training sets (torchvision's customary values).
inline const std::vector<float> kMnistMean = {0.1307f}, kMnistStd = {0.3081f};
inline const std::vector<float> kFashionMnistMean = {0.2860f}, kFashionMnistStd = {0.3530f};
inline const std::vector<float> kCifar10Mean = {0.4914f, 0.4822f, 0.4465f};
inline const std::vector<float> kCifar10Std = {0.2470f, 0.2435f, 0.2616f};

class Transform {
 public:
  virtual ~Transform() = default;
  // Transforms one image [channels, height, width] in place.
  virtual void apply(float* image, int64_t channels, int64_t height, int64_t width, Generator& gen) const = 0;
  virtual std::string repr() const = 0;  // e.g. "RandomCrop(padding=4)", for logs and configs
};
using Transforms = std::vector<std::shared_ptr<const Transform>>;

// x = (x - mean[c]) / std[c]; one mean and std per channel (or one for all channels).
class Normalize : public Transform {
 public:
  Normalize(std::vector<float> mean, std::vector<float> std);
  void apply(float* image, int64_t channels, int64_t height, int64_t width, Generator& gen) const override;
  std::string repr() const override;

 private:
  std::vector<float> mean_, std_;
};

// Pads the image with `padding` zeros on every side, then crops it back to its size at a
// uniformly random offset (torchvision's RandomCrop(size, padding) with size = the image's).
class RandomCrop : public Transform {
 public:
  explicit RandomCrop(int64_t padding);
  void apply(float* image, int64_t channels, int64_t height, int64_t width, Generator& gen) const override;
  std::string repr() const override;

 private:
  int64_t padding_;
};

// Mirrors the image left-right with probability p.
class RandomHorizontalFlip : public Transform {
 public:
  explicit RandomHorizontalFlip(float p = 0.5f);
  void apply(float* image, int64_t channels, int64_t height, int64_t width, Generator& gen) const override;
  std::string repr() const override;

 private:
  float p_;
};

// The deterministic steps, on their own (tests use them too).
void hflip(float* image, int64_t channels, int64_t height, int64_t width);
// image(y, x) = old(y + dy, x + dx), zero where that falls outside: a crop of the zero-padded
// image at offset (padding + dy, padding + dx).
void shift(float* image, int64_t channels, int64_t height, int64_t width, int64_t dy, int64_t dx);

// The usual pipeline of a built-in data set (mnist, fashion-mnist, cifar10): normalization, and
// for cifar10 with `augment` a random crop with 4 pixels of padding and a horizontal flip first.
Transforms standard_transforms(const std::string& dataset, bool augment);

}  // namespace norma::data
