#include "data/cifar10.h"

#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "data/io.h"

namespace norma::data {

const std::vector<std::string> kCifar10Classes = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                  "dog",      "frog",       "horse", "ship", "truck"};

void read_cifar10_file(const std::string& path, std::vector<uint8_t>& pixels, std::vector<int64_t>& labels) {
  std::vector<uint8_t> bytes = read_file(path);
  const int64_t size = int64_t(bytes.size());
  NORMA_CHECK(size > 0 && size % kCifarRecordBytes == 0, "cifar10: ", path, ": ", size,
              " bytes is not a whole number of ", kCifarRecordBytes, "-byte records (1 label + 3072 pixels); truncated?");
  const int64_t n = size / kCifarRecordBytes;
  const size_t first = pixels.size();
  pixels.resize(first + size_t(n * kCifarImageBytes));
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* record = bytes.data() + i * kCifarRecordBytes;
    NORMA_CHECK(record[0] < kCifar10Classes.size(), "cifar10: ", path, ": label ", int(record[0]), " of record ", i,
                " is outside [0, 10)");
    labels.push_back(record[0]);
    std::memcpy(&pixels[first + size_t(i * kCifarImageBytes)], record + 1, kCifarImageBytes);  // already [3, 32, 32]
  }
}

ImageDataset read_cifar10(const std::vector<std::string>& paths) {
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
  for (const std::string& p : paths) read_cifar10_file(p, pixels, labels);
  return ImageDataset({3, 32, 32}, std::move(pixels), std::move(labels), kCifar10Classes);
}

ImageDataset load_cifar10(const std::string& data_dir, bool train) {
  const std::filesystem::path dir = std::filesystem::path(data_dir) / "cifar10";
  std::vector<std::string> names = {"test_batch.bin"};
  if (train) names = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"};
  std::vector<std::string> paths;
  for (const std::string& name : names) {
    paths.push_back((dir / name).string());
    NORMA_CHECK(std::filesystem::exists(paths.back()), "cifar10: cannot find ", paths.back(),
                ": run `norma fetch cifar10 --data-dir ", data_dir, "`");
  }
  return read_cifar10(paths);
}

}  // namespace norma::data
