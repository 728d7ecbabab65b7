// CIFAR-10 in its binary version (https://www.cs.toronto.edu/~kriz/cifar.html): each file is
// a run of 3073-byte records, 1 label byte (0-9) then a 32x32 image as 1024 red, 1024 green
// and 1024 blue bytes (each plane row-major). `norma fetch cifar10` writes these files to
// DIR/cifar10/: data_batch_1.bin ... data_batch_5.bin (training, 50000) and test_batch.bin.
#pragma once
#include <string>
#include <vector>

#include "data/dataset.h"

namespace norma::data {

constexpr int64_t kCifarImageBytes = 3 * 32 * 32, kCifarRecordBytes = 1 + kCifarImageBytes;
extern const std::vector<std::string> kCifar10Classes;  // "airplane" ... "truck"

// Appends the records of one file (raw or gzipped) to pixels and labels. Errors name the file:
// a size that is not a whole number of records, a label outside [0, 10).
void read_cifar10_file(const std::string& path, std::vector<uint8_t>& pixels, std::vector<int64_t>& labels);

// Several files as one dataset of [3, 32, 32] images.
ImageDataset read_cifar10(const std::vector<std::string>& paths);

// The training set (data_batch_1..5.bin) or the test set (test_batch.bin) in DIR/cifar10/.
ImageDataset load_cifar10(const std::string& data_dir, bool train);

}  // namespace norma::data
