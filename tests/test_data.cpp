// Data readers (IDX, CIFAR-10 binary, image folder), transforms and batch assembly, on small
// synthetic files written into a scratch folder: no network, no real data set.
#include <doctest/doctest.h>
#include <stb/stb_image_write.h>

#include <set>

#include "core/norma.h"
#include "data/cifar10.h"
#include "data/dataset.h"
#include "data/idx.h"
#include "data/image_folder.h"
#include "data/transforms.h"
#include "data_helpers.h"

using namespace norma;
using namespace norma::data;
using namespace norma_test;

TEST_CASE("idx: raw and gzipped files read the same, with pixels and labels in order") {
  TempDir dir("idx_same");
  write_bytes(dir / "img", idx_images(3, 2, 4));
  write_bytes(dir / "lab", idx_labels({7, 0, 9}));
  write_gzip(dir / "img.gz", idx_images(3, 2, 4));
  write_gzip(dir / "lab.gz", idx_labels({7, 0, 9}));
  ImageDataset raw = read_idx(dir / "img", dir / "lab", kMnistClasses);
  ImageDataset gz = read_idx(dir / "img.gz", dir / "lab.gz", kMnistClasses);
  REQUIRE(raw.size() == 3);
  CHECK(raw.shape().channels == 1);
  CHECK(raw.shape().height == 2);
  CHECK(raw.shape().width == 4);
  CHECK(raw.num_classes() == 10);
  CHECK(raw.labels() == std::vector<int64_t>{7, 0, 9});
  CHECK(gz.labels() == raw.labels());
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t k = 0; k < 8; ++k) {
      CHECK(raw.get(i).pixels[k] == uint8_t(((i * 8 + k) * 7) % 256));
      CHECK(gz.get(i).pixels[k] == raw.get(i).pixels[k]);
    }
}

TEST_CASE("idx: truncated files, wrong magic numbers and bad labels are rejected naming the file") {
  TempDir dir("idx_bad");
  const std::string img = dir / "img", lab = dir / "lab";
  write_bytes(lab, idx_labels({1, 2, 3}));
  SUBCASE("truncated pixels") {
    write_bytes(img, idx_images(3, 2, 4).substr(0, 16 + 20));
    CHECK_ERROR(read_idx(img, lab, kMnistClasses), img + ": truncated: the header announces 3 images (24 bytes of data), the file holds 20");
  }
  SUBCASE("truncated header") {
    write_bytes(img, idx_images(3, 2, 4).substr(0, 10));
    CHECK_ERROR(read_idx(img, lab, kMnistClasses), img + ": truncated: 10 bytes, expected an IDX images header of 16");
  }
  SUBCASE("trailing bytes") {
    write_bytes(img, idx_images(3, 2, 4) + "xy");
    CHECK_ERROR(read_idx(img, lab, kMnistClasses), img + ": 2 bytes after the 3 images");
  }
  SUBCASE("wrong magic: the files swapped") {
    write_bytes(img, idx_images(3, 2, 4));
    CHECK_ERROR(read_idx(lab, img, kMnistClasses), lab + ": magic number 2049, expected 2051 (IDX images)");
    CHECK_ERROR(read_idx(img, img, kMnistClasses), img + ": magic number 2051, expected 2049 (IDX labels)");
  }
  SUBCASE("label out of range") {
    write_bytes(img, idx_images(3, 2, 4));
    write_bytes(lab, idx_labels({1, 10, 3}));
    CHECK_ERROR(read_idx(img, lab, kMnistClasses), lab + ": label 10 at index 1 is outside [0, 10)");
  }
  SUBCASE("counts differ") {
    write_bytes(img, idx_images(2, 2, 4));
    CHECK_ERROR(read_idx(img, lab, kMnistClasses), img + " holds 2 images but " + lab + " holds 3 labels");
  }
  SUBCASE("truncated gzip stream") {
    std::string whole = dir / "whole.gz";
    write_gzip(whole, idx_images(30, 8, 8));
    write_bytes(img, read_bytes(whole).substr(0, 200));
    CHECK_ERROR(read_idx(img, lab, kMnistClasses), "cannot read " + img);
  }
  SUBCASE("missing file") { CHECK_ERROR(read_idx(dir / "nope", lab, kMnistClasses), "cannot open " + (dir / "nope")); }
}

TEST_CASE("idx: load_mnist finds raw or .gz files in DIR/mnist and says how to fetch them") {
  TempDir dir("idx_load");
  write_bytes(dir / "mnist/t10k-images-idx3-ubyte", idx_images(2, 28, 28));
  write_gzip(dir / "mnist/t10k-labels-idx1-ubyte.gz", idx_labels({3, 4}));
  ImageDataset test = load_mnist(dir.path.string(), /*train=*/false);
  CHECK(test.size() == 2);
  CHECK(test.labels() == std::vector<int64_t>{3, 4});
  CHECK_ERROR(load_mnist(dir.path.string(), true), "norma fetch mnist --data-dir " + dir.path.string());
  CHECK_ERROR(load_fashion_mnist(dir.path.string(), false), "fashion-mnist/t10k-images-idx3-ubyte (or .gz)");
}

// Two CIFAR records: label, then 3072 pixels whose value encodes (record, position).
std::string cifar_records(std::vector<int> labels) {
  std::string s;
  for (size_t r = 0; r < labels.size(); ++r) {
    s += char(labels[r]);
    for (int k = 0; k < 3072; ++k) s += char((k + 11 * int(r)) % 251);
  }
  return s;
}

TEST_CASE("cifar10: records parse into [3, 32, 32] images and labels, bad files are rejected naming the file") {
  TempDir dir("cifar");
  write_bytes(dir / "a.bin", cifar_records({3, 9}));
  write_bytes(dir / "b.bin", cifar_records({0}));
  ImageDataset ds = read_cifar10({dir / "a.bin", dir / "b.bin"});
  REQUIRE(ds.size() == 3);
  CHECK(ds.shape().channels == 3);
  CHECK(ds.shape().height == 32);
  CHECK(ds.labels() == std::vector<int64_t>{3, 9, 0});
  CHECK(ds.class_names()[9] == "truck");
  CHECK(ds.get(1).pixels[0] == 11);           // record 1, red (0, 0)
  CHECK(ds.get(1).pixels[1024] == (1024 + 11) % 251);  // green plane starts at 1024
  CHECK(ds.get(2).pixels[3071] == 3071 % 251);

  write_bytes(dir / "short.bin", cifar_records({1, 2}).substr(0, 5000));
  CHECK_ERROR(read_cifar10({dir / "short.bin"}), dir / "short.bin" + ": 5000 bytes is not a whole number of 3073-byte records");
  write_bytes(dir / "empty.bin", "");
  CHECK_ERROR(read_cifar10({dir / "empty.bin"}), dir / "empty.bin" + ": 0 bytes");
  write_bytes(dir / "label.bin", cifar_records({1, 10}));
  CHECK_ERROR(read_cifar10({dir / "label.bin"}), dir / "label.bin" + ": label 10 of record 1 is outside [0, 10)");
  CHECK_ERROR(load_cifar10(dir.path.string(), false), "norma fetch cifar10");
}

// A w x h PNG with channels c whose pixel (y, x, k) is f(y, x, k).
template <typename F>
void write_png(const std::string& path, int w, int h, int c, F f) {
  std::vector<uint8_t> px(size_t(w * h * c));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k) px[size_t((y * w + x) * c + k)] = uint8_t(f(y, x, k));
  fs::create_directories(fs::path(path).parent_path());
  REQUIRE(stbi_write_png(path.c_str(), w, h, c, px.data(), w * c) != 0);
}

TEST_CASE("image_folder: classes from sorted sub-folders, images decoded, resized, planar") {
  TempDir dir("folder");
  write_png(dir / "dog/b.png", 4, 2, 3, [](int y, int x, int k) { return 10 * y + x + 100 * k; });
  write_png(dir / "cat/z.PNG", 4, 2, 3, [](int, int, int) { return 50; });
  write_png(dir / "dog/a.png", 8, 4, 3, [](int, int, int k) { return 200 + k; });  // resized down: stays constant
  write_bytes(dir / "dog/notes.txt", "not an image");
  ImageDataset ds = load_image_folder(dir.path.string(), 2, 4, 3);
  REQUIRE(ds.size() == 3);
  CHECK(ds.class_names() == std::vector<std::string>{"cat", "dog"});
  CHECK(ds.labels() == std::vector<int64_t>{0, 1, 1});  // cat/z, dog/a, dog/b
  CHECK(ds.get(0).pixels[5] == 50);
  CHECK(ds.get(1).pixels[0] == 200);
  CHECK(ds.get(1).pixels[8 + 3] == 201);  // green plane
  // dog/b at its own size: planar [C, H, W], value 10 y + x + 100 k.
  for (int k = 0; k < 3; ++k)
    for (int y = 0; y < 2; ++y)
      for (int x = 0; x < 4; ++x) CHECK(ds.get(2).pixels[k * 8 + y * 4 + x] == 10 * y + x + 100 * k);

  ImageDataset gray = load_image_folder(dir.path.string(), 2, 4, 1);
  CHECK(gray.shape().channels == 1);
  CHECK(gray.get(0).pixels[0] == 50);  // gray stays gray

  write_bytes(dir / "cat/broken.png", "definitely not a png");
  CHECK_ERROR(load_image_folder(dir.path.string(), 2, 4, 3), "cannot decode " + (dir / "cat/broken.png"));
  fs::remove(dir / "cat/broken.png");
  fs::create_directories(dir / "empty");
  CHECK_ERROR(load_image_folder(dir.path.string(), 2, 4, 3), (dir / "empty") + " has no .png");
  CHECK_ERROR(load_image_folder(dir / "nothing", 2, 4, 3), "is not a directory");
  CHECK_ERROR(load_image(dir / "dog/a.png", 2, 2, 2), "channels must be 1 or 3");
}

TEST_CASE("image_folder: bilinear resize samples at pixel centers") {
  // 4 -> 2 pixels: output i samples 2 i + 0.5, the mean of pixels 2 i and 2 i + 1.
  const uint8_t row[4] = {0, 100, 200, 250};
  CHECK(resize_bilinear(row, 1, 4, 1, 1, 2) == std::vector<uint8_t>{50, 225});
  // 2 -> 4: samples -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1).
  const uint8_t two[2] = {0, 200};
  CHECK(resize_bilinear(two, 1, 2, 1, 1, 4) == std::vector<uint8_t>{0, 50, 150, 200});
  // Channels stay apart; rows interpolate like columns.
  const uint8_t rgb[2 * 3] = {0, 10, 20, 100, 110, 120};  // a column of two RGB pixels
  CHECK(resize_bilinear(rgb, 2, 1, 3, 1, 1) == std::vector<uint8_t>{50, 60, 70});
}

TEST_CASE("transforms: flip is exact, shift moves content and fills zeros, normalize per channel") {
  // 2 channels of 2 x 3: value 100 c + 10 y + x.
  std::vector<float> img(12), orig;
  for (int c = 0; c < 2; ++c)
    for (int y = 0; y < 2; ++y)
      for (int x = 0; x < 3; ++x) img[size_t(c * 6 + y * 3 + x)] = float(100 * c + 10 * y + x);
  orig = img;
  hflip(img.data(), 2, 2, 3);
  CHECK(img == std::vector<float>{2, 1, 0, 12, 11, 10, 102, 101, 100, 112, 111, 110});
  hflip(img.data(), 2, 2, 3);
  CHECK(img == orig);

  shift(img.data(), 2, 2, 3, /*dy=*/1, /*dx=*/-1);  // image(y, x) = old(y + 1, x - 1)
  CHECK(img == std::vector<float>{0, 10, 11, 0, 0, 0, 0, 110, 111, 0, 0, 0});
  img = orig;
  shift(img.data(), 2, 2, 3, -1, 2);
  CHECK(img == std::vector<float>{0, 0, 0, 2, 0, 0, 0, 0, 0, 102, 0, 0});

  img = orig;
  Generator gen(0);
  Normalize({1.f, 2.f}, {2.f, 4.f}).apply(img.data(), 2, 2, 3, gen);
  CHECK(img[4] == (11.f - 1.f) / 2.f);
  CHECK(img[11] == (112.f - 2.f) / 4.f);
  CHECK_ERROR(Normalize({0.5f}, {0.f}), "std must be > 0");
  CHECK_ERROR(Normalize({0.5f, 0.5f}, {1.f}), "as many means as stds");
  CHECK_ERROR(Normalize({0.f, 0.f, 0.f}, {1.f, 1.f, 1.f}).apply(img.data(), 2, 2, 3, gen), "3 means for an image of 2 channels");
}

TEST_CASE("transforms: random crop is a shift within the padding, flips happen about half the time") {
  std::vector<float> orig(2 * 5 * 5);
  for (size_t i = 0; i < orig.size(); ++i) orig[i] = float(i + 1);
  RandomCrop crop(2);
  std::set<std::pair<int, int>> seen;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    std::vector<float> img = orig;
    Generator gen(seed);
    crop.apply(img.data(), 2, 5, 5, gen);
    int found = 0;
    for (int dy = -2; dy <= 2; ++dy)
      for (int dx = -2; dx <= 2; ++dx) {
        std::vector<float> expect = orig;
        shift(expect.data(), 2, 5, 5, dy, dx);
        if (expect == img) seen.insert({dy, dx}), ++found;
      }
    CHECK(found == 1);
  }
  CHECK(seen.size() == 25);  // every offset happens

  int flips = 0;
  for (uint64_t seed = 0; seed < 400; ++seed) {
    std::vector<float> img = orig;
    Generator gen(seed);
    RandomHorizontalFlip().apply(img.data(), 2, 5, 5, gen);
    flips += img != orig;
  }
  CHECK(flips > 150);
  CHECK(flips < 250);
  CHECK(standard_transforms("cifar10", true).size() == 3);
  CHECK(standard_transforms("cifar10", true)[0]->repr() == "RandomCrop(padding=4)");
  CHECK_ERROR(standard_transforms("imagenet", false), "unknown data set 'imagenet'");
}

TEST_CASE("make_batch: pixels / 255, then the transforms, same seed, same augmentation") {
  std::vector<uint8_t> px(4 * 3 * 4 * 4);
  for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t((i * 37) % 256);
  auto ds = std::make_shared<ImageDataset>(ImageShape{3, 4, 4}, px, std::vector<int64_t>{2, 0, 1, 2},
                                           std::vector<std::string>{"a", "b", "c"});
  Batch plain = make_batch(*ds, {3, 1});
  CHECK(plain.images.shape() == Shape{2, 3, 4, 4});
  CHECK(plain.labels == std::vector<int64_t>{2, 0});
  CHECK(plain.indices == std::vector<int64_t>{3, 1});
  CHECK(plain.images.at({0, 1, 2, 3}) == float(px[3 * 48 + 16 + 8 + 3]) / 255.f);
  CHECK(plain.images.at({1, 0, 0, 0}) == float(px[48]) / 255.f);

  Transforms norm = {std::make_shared<Normalize>(kCifar10Mean, kCifar10Std)};
  Batch n = make_batch(*ds, {3, 1}, norm);
  CHECK(n.images.at({0, 2, 1, 1}) == (plain.images.at({0, 2, 1, 1}) - 0.4465f) / 0.2616f);

  Transforms aug = standard_transforms("cifar10", true);
  Batch a1 = make_batch(*ds, {0, 1, 2, 3}, aug, 7), a2 = make_batch(*ds, {0, 1, 2, 3}, aug, 7);
  CHECK(equal(a1.images, a2.images));
  // An example's augmentation depends on its index, not on its place in the batch.
  Batch swapped = make_batch(*ds, {2, 0}, aug, 7);
  CHECK(equal(swapped.images.slice(0, 1, 2), a1.images.slice(0, 0, 1)));
  bool differs = false;
  for (uint64_t seed = 8; seed < 12; ++seed) differs |= !equal(make_batch(*ds, {0, 1, 2, 3}, aug, seed).images, a1.images);
  CHECK(differs);
  CHECK_ERROR(make_batch(*ds, {4}), "index 4 out of range for 4 examples");
  CHECK_ERROR(ImageDataset({1, 2, 2}, std::vector<uint8_t>(8), {0, 3}, {"a", "b"}), "label 3 of example 1 is outside [0, 2)");
  CHECK_ERROR(ImageDataset({1, 2, 2}, std::vector<uint8_t>(7), {0, 1}, {"a", "b"}), "2 labels need 8 pixel bytes, got 7");
}
