// MNIST and Fashion-MNIST: IDX files (http://yann.lecun.com/exdb/mnist/), raw or gzipped.
//   images: int32 magic 2051 (0x00000803: unsigned bytes, 3 dims), count, rows, cols, then
//           count * rows * cols pixels (row-major, 0 = background)
//   labels: int32 magic 2049 (0x00000801: unsigned bytes, 1 dim), count, then count labels
// Integers are big-endian. Every field is validated against the file; errors name the file.
#pragma once
#include <string>
#include <vector>

#include "data/dataset.h"

namespace norma::data {

extern const std::vector<std::string> kMnistClasses;         // "0" ... "9"
extern const std::vector<std::string> kFashionMnistClasses;  // "T-shirt/top" ... "Ankle boot"

// An images file and its labels file as a dataset of [1, rows, cols] images; labels must lie
// in [0, class_names.size()).
ImageDataset read_idx(const std::string& images_path, const std::string& labels_path,
                      std::vector<std::string> class_names);

// The training (60000) or test (10000) set from DIR/mnist/ or DIR/fashion-mnist/, where
// `norma fetch` puts them: {train,t10k}-images-idx3-ubyte and -labels-idx1-ubyte, each raw or
// with a .gz suffix.
ImageDataset load_mnist(const std::string& data_dir, bool train);
ImageDataset load_fashion_mnist(const std::string& data_dir, bool train);

}  // namespace norma::data
