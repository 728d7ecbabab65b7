// Datasets of labelled images. A Dataset hands out examples as uint8 pixels (a quarter of the
// memory of float32) and make_batch() turns a list of them into a float batch [B, C, H, W]:
// pixels / 255, then the transforms (augmentation, normalization) image by image.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "data/transforms.h"

namespace norma::data {

struct ImageShape {
  int64_t channels = 0, height = 0, width = 0;
  int64_t numel() const { return channels * height * width; }
};

struct Example {
  const uint8_t* pixels;  // channels * height * width bytes, channel-major ([C, H, W])
  int64_t label;          // in [0, num_classes)
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual ImageShape shape() const = 0;
  virtual const std::vector<std::string>& class_names() const = 0;
  int64_t num_classes() const { return int64_t(class_names().size()); }
  // Example i, 0 <= i < size(); its pixels live as long as the dataset. Safe to call from
  // several threads at once (the loader's prefetch thread does).
  virtual Example get(int64_t i) const = 0;
};

// Every image in memory: pixels [N, C, H, W] uint8 and N labels. The readers (idx.h,
// cifar10.h, image_folder.h) build these.
class ImageDataset : public Dataset {
 public:
  ImageDataset(ImageShape shape, std::vector<uint8_t> pixels, std::vector<int64_t> labels,
               std::vector<std::string> class_names);
  int64_t size() const override { return int64_t(labels_.size()); }
  ImageShape shape() const override { return shape_; }
  const std::vector<std::string>& class_names() const override { return class_names_; }
  Example get(int64_t i) const override;
  const std::vector<int64_t>& labels() const { return labels_; }

 private:
  ImageShape shape_;
  std::vector<uint8_t> pixels_;
  std::vector<int64_t> labels_;
  std::vector<std::string> class_names_;
};

// The examples of `base` at `indices`, in that order (e.g. a validation split).
class Subset : public Dataset {
 public:
  Subset(std::shared_ptr<const Dataset> base, std::vector<int64_t> indices);
  int64_t size() const override { return int64_t(indices_.size()); }
  ImageShape shape() const override { return base_->shape(); }
  const std::vector<std::string>& class_names() const override { return base_->class_names(); }
  Example get(int64_t i) const override;

 private:
  std::shared_ptr<const Dataset> base_;
  std::vector<int64_t> indices_;
};

struct Batch {
  Tensor images;                 // [B, C, H, W] float
  std::vector<int64_t> labels;   // B class indices
  std::vector<int64_t> indices;  // B dataset indices the examples came from
};

// A seed for `key` derived from `seed` (splitmix64 of both): independent streams for the
// shuffle of each epoch and the augmentation of each example.
uint64_t derive_seed(uint64_t seed, uint64_t key);

// The examples at `indices` as a Batch: images = pixels / 255, then `transforms` in order on
// each image, with example i's random choices from Generator(derive_seed(augment_seed, i)).
Batch make_batch(const Dataset& dataset, std::vector<int64_t> indices, const Transforms& transforms = {},
                 uint64_t augment_seed = 0);

}  // namespace norma::data
