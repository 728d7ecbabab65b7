#include "data/idx.h"

#include <filesystem>

#include "core/error.h"
#include "data/io.h"

namespace norma::data {

const std::vector<std::string> kMnistClasses = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
const std::vector<std::string> kFashionMnistClasses = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                       "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

namespace {

constexpr uint32_t kImagesMagic = 2051, kLabelsMagic = 2049;

uint32_t big_endian(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

// Checks the header (magic, then `dims` sizes) and that the data that follows is exactly the
// product of the sizes; returns the sizes.
std::vector<uint64_t> read_header(const std::string& path, const std::vector<uint8_t>& bytes, uint32_t magic,
                                  const char* what, size_t dims) {
  const size_t header = 4 + 4 * dims;
  // The magic number first: a wrong file is named as such, even when shorter than a header.
  NORMA_CHECK(bytes.size() < 4 || big_endian(bytes.data()) == magic, "idx: ", path, ": magic number ",
              big_endian(bytes.data()), ", expected ", magic, " (IDX ", what, ")");
  NORMA_CHECK(bytes.size() >= header, "idx: ", path, ": truncated: ", bytes.size(), " bytes, expected an IDX ", what,
              " header of ", header);
  std::vector<uint64_t> sizes;
  uint64_t expected = 1;
  for (size_t d = 0; d < dims; ++d) {
    sizes.push_back(big_endian(bytes.data() + 4 + 4 * d));
    // Rows and columns are checked against a sane bound so the product cannot overflow.
    NORMA_CHECK(d == 0 || (sizes[d] >= 1 && sizes[d] <= 65536), "idx: ", path, ": image size ", sizes[d],
                " out of range [1, 65536]");
    expected *= sizes[d];
  }
  const uint64_t have = bytes.size() - header;
  NORMA_CHECK(have >= expected, "idx: ", path, ": truncated: the header announces ", sizes[0], " ", what, " (",
              expected, " bytes of data), the file holds ", have);
  NORMA_CHECK(have == expected, "idx: ", path, ": ", have - expected, " bytes after the ", sizes[0], " ", what,
              " the header announces");
  return sizes;
}

// DATA_DIR/DATASET/NAME or the same with .gz, whichever exists.
std::string find_file(const std::string& data_dir, const std::string& dataset, const std::string& name) {
  const std::string raw = (std::filesystem::path(data_dir) / dataset / name).string();
  if (std::filesystem::exists(raw)) return raw;
  if (std::filesystem::exists(raw + ".gz")) return raw + ".gz";
  throw Error(dataset + ": cannot find " + raw + " (or .gz): run `norma fetch " + dataset + " --data-dir " + data_dir +
              "`");
}

ImageDataset load(const std::string& data_dir, const std::string& dataset, bool train,
                  const std::vector<std::string>& classes) {
  const std::string split = train ? "train" : "t10k";
  const std::string images = find_file(data_dir, dataset, split + "-images-idx3-ubyte");
  const std::string labels = find_file(data_dir, dataset, split + "-labels-idx1-ubyte");
  return read_idx(images, labels, classes);
}

}  // namespace

ImageDataset read_idx(const std::string& images_path, const std::string& labels_path,
                      std::vector<std::string> class_names) {
  std::vector<uint8_t> images = read_file(images_path), labels = read_file(labels_path);
  std::vector<uint64_t> is = read_header(images_path, images, kImagesMagic, "images", 3);
  std::vector<uint64_t> ls = read_header(labels_path, labels, kLabelsMagic, "labels", 1);
  NORMA_CHECK(is[0] == ls[0], "idx: ", images_path, " holds ", is[0], " images but ", labels_path, " holds ", ls[0],
              " labels");
  std::vector<int64_t> label_values(ls[0]);
  for (size_t i = 0; i < label_values.size(); ++i) {
    label_values[i] = labels[8 + i];
    NORMA_CHECK(label_values[i] < int64_t(class_names.size()), "idx: ", labels_path, ": label ", label_values[i],
                " at index ", i, " is outside [0, ", class_names.size(), ")");
  }
  images.erase(images.begin(), images.begin() + 16);  // keep only the pixels
  return ImageDataset({1, int64_t(is[1]), int64_t(is[2])}, std::move(images), std::move(label_values),
                      std::move(class_names));
}

ImageDataset load_mnist(const std::string& data_dir, bool train) { return load(data_dir, "mnist", train, kMnistClasses); }

ImageDataset load_fashion_mnist(const std::string& data_dir, bool train) {
  return load(data_dir, "fashion-mnist", train, kFashionMnistClasses);
}

}  // namespace norma::data
