#include "data/dataset.h"

#include "core/error.h"

namespace norma::data {

ImageDataset::ImageDataset(ImageShape shape, std::vector<uint8_t> pixels, std::vector<int64_t> labels,
                           std::vector<std::string> class_names)
    : shape_(shape), pixels_(std::move(pixels)), labels_(std::move(labels)), class_names_(std::move(class_names)) {
  NORMA_CHECK(shape_.channels > 0 && shape_.height > 0 && shape_.width > 0, "ImageDataset: expected a positive image shape, got [",
              shape_.channels, ", ", shape_.height, ", ", shape_.width, "]");
  NORMA_CHECK(int64_t(pixels_.size()) == int64_t(labels_.size()) * shape_.numel(), "ImageDataset: ", labels_.size(),
              " labels need ", int64_t(labels_.size()) * shape_.numel(), " pixel bytes, got ", pixels_.size());
  NORMA_CHECK(!class_names_.empty(), "ImageDataset: expected at least one class name");
  for (size_t i = 0; i < labels_.size(); ++i)
    NORMA_CHECK(labels_[i] >= 0 && labels_[i] < int64_t(class_names_.size()), "ImageDataset: label ", labels_[i],
                " of example ", i, " is outside [0, ", class_names_.size(), ")");
}

Example ImageDataset::get(int64_t i) const {
  NORMA_CHECK(i >= 0 && i < size(), "ImageDataset: index ", i, " out of range for ", size(), " examples");
  return {pixels_.data() + i * shape_.numel(), labels_[size_t(i)]};
}

Subset::Subset(std::shared_ptr<const Dataset> base, std::vector<int64_t> indices)
    : base_(std::move(base)), indices_(std::move(indices)) {
  NORMA_CHECK(base_, "Subset: no base dataset");
  for (int64_t i : indices_)
    NORMA_CHECK(i >= 0 && i < base_->size(), "Subset: index ", i, " out of range for ", base_->size(), " examples");
}

Example Subset::get(int64_t i) const {
  NORMA_CHECK(i >= 0 && i < size(), "Subset: index ", i, " out of range for ", size(), " examples");
  return base_->get(indices_[size_t(i)]);
}

namespace {
uint64_t splitmix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
}  // namespace

// Hashing the seed first keeps (seed, key) and (seed + 1, key - 1) apart.
uint64_t derive_seed(uint64_t seed, uint64_t key) { return splitmix64(splitmix64(seed) + key); }

Batch make_batch(const Dataset& dataset, std::vector<int64_t> indices, const Transforms& transforms,
                 uint64_t augment_seed) {
  const ImageShape s = dataset.shape();
  const int64_t n = s.numel(), b = int64_t(indices.size());
  Batch batch;
  batch.images = empty({b, s.channels, s.height, s.width});
  batch.labels.resize(size_t(b));
  float* out = batch.images.data();
  for (int64_t k = 0; k < b; ++k) {
    const Example ex = dataset.get(indices[size_t(k)]);
    float* img = out + k * n;
    // x = pixel / 255 (a division: the same value as torchvision's ToTensor).
    for (int64_t i = 0; i < n; ++i) img[i] = float(ex.pixels[i]) / 255.f;
    if (!transforms.empty()) {
      Generator gen(derive_seed(augment_seed, uint64_t(indices[size_t(k)])));
      for (const auto& t : transforms) t->apply(img, s.channels, s.height, s.width, gen);
    }
    batch.labels[size_t(k)] = ex.label;
  }
  batch.indices = std::move(indices);
  return batch;
}

}  // namespace norma::data
