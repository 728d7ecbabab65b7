#include "apps/datasets.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "data/cifar10.h"
#include "data/fetch.h"
#include "data/idx.h"
#include "data/image_folder.h"

namespace norma::apps {
namespace fs = std::filesystem;

namespace {
std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

std::shared_ptr<const data::Dataset> load_builtin(const std::string& name, const std::string& dir, bool train) {
  if (name == "mnist") return std::make_shared<data::ImageDataset>(data::load_mnist(dir, train));
  if (name == "fashion-mnist") return std::make_shared<data::ImageDataset>(data::load_fashion_mnist(dir, train));
  return std::make_shared<data::ImageDataset>(data::load_cifar10(dir, train));
}

// Per-channel mean and std of a set's pixels (in [0, 1]), accumulated in double.
void measure(const data::Dataset& d, std::vector<float>& mean, std::vector<float>& std) {
  const data::ImageShape s = d.shape();
  const int64_t plane = s.height * s.width;
  std::vector<double> sum(size_t(s.channels), 0.0), sq(size_t(s.channels), 0.0);
  for (int64_t i = 0; i < d.size(); ++i) {
    const uint8_t* p = d.get(i).pixels;
    for (int64_t c = 0; c < s.channels; ++c)
      for (int64_t k = 0; k < plane; ++k) {
        double v = p[c * plane + k] / 255.0;
        sum[size_t(c)] += v;
        sq[size_t(c)] += v * v;
      }
  }
  const double n = double(d.size()) * double(plane);
  mean.assign(size_t(s.channels), 0.f);
  std.assign(size_t(s.channels), 1.f);
  for (size_t c = 0; c < size_t(s.channels); ++c) {
    double m = sum[c] / n, var = sq[c] / n - m * m;
    mean[c] = float(m);
    std[c] = var > 1e-12 ? float(std::sqrt(var)) : 1.f;  // a constant channel: leave it unscaled
  }
}
}  // namespace

const std::vector<std::string>& builtin_datasets() {
  static const std::vector<std::string> names = {"mnist", "fashion-mnist", "cifar10"};
  return names;
}

std::string DataSpec::short_name() const {
  if (builtin()) return name;
  std::string base = fs::path(folder).lexically_normal().filename().string();
  if (base.empty() || base == ".") base = fs::path(folder).lexically_normal().parent_path().filename().string();
  return base.empty() ? "folder" : base;
}

DataSpec parse_data_spec(const std::string& text) {
  DataSpec spec;
  if (text.rfind("folder:", 0) == 0) {
    spec.name = "folder";
    spec.folder = text.substr(7);
    NORMA_CHECK(!spec.folder.empty(), "--data: folder: needs a path, e.g. folder:images/");
    return spec;
  }
  for (const std::string& n : builtin_datasets())
    if (text == n) {
      spec.name = n;
      return spec;
    }
  throw Error("--data: unknown data set '" + text + "' (valid: " + join(builtin_datasets()) + ", folder:PATH)");
}

data::ImageShape builtin_shape(const std::string& name) {
  if (name == "cifar10") return {3, 32, 32};
  NORMA_CHECK(name == "mnist" || name == "fashion-mnist", "builtin_shape: unknown data set '", name, "'");
  return {1, 28, 28};
}

LoadedData load_data(const DataSpec& spec, const std::string& data_dir, const data::ImageShape& shape, bool train,
                     std::ostream& log, std::vector<float> mean, std::vector<float> std) {
  LoadedData d;
  if (spec.builtin()) {
    data::ensure_dataset(spec.name, data_dir, log);
    if (train) d.train = load_builtin(spec.name, data_dir, true);
    d.test = load_builtin(spec.name, data_dir, false);
    d.class_names = d.test->class_names();
    if (spec.name == "mnist") d.mean = data::kMnistMean, d.std = data::kMnistStd;
    if (spec.name == "fashion-mnist") d.mean = data::kFashionMnistMean, d.std = data::kFashionMnistStd;
    if (spec.name == "cifar10") d.mean = data::kCifar10Mean, d.std = data::kCifar10Std;
    return d;
  }

  const fs::path root(spec.folder);
  NORMA_CHECK(fs::is_directory(root), "--data: folder ", spec.folder, " does not exist or is not a directory");
  fs::path test_dir = root / "test";
  if (!fs::is_directory(test_dir)) test_dir = root / "val";
  const bool split_dirs = fs::is_directory(root / "train") && fs::is_directory(test_dir);
  auto load = [&](const fs::path& p) {
    return std::make_shared<data::ImageDataset>(data::load_image_folder(p.string(), shape.height, shape.width, shape.channels));
  };
  if (split_dirs) {
    d.test = load(test_dir);
    if (train) {
      d.train = load(root / "train");
      NORMA_CHECK(d.train->class_names() == d.test->class_names(), "--data: the classes of ", (root / "train").string(),
                  " (", join(d.train->class_names()), ") differ from those of ", test_dir.string(), " (",
                  join(d.test->class_names()), ")");
    }
  } else {
    auto all = load(root);
    std::vector<int64_t> train_idx, test_idx;
    for (int64_t i = 0; i < all->size(); ++i) (i % 10 == 9 ? test_idx : train_idx).push_back(i);
    NORMA_CHECK(!test_idx.empty() && !train_idx.empty(), "--data: folder ", spec.folder, " has ", all->size(),
                " images: too few to hold every 10th out for testing (put train/ and test/ sub-folders in it)");
    if (train) d.train = std::make_shared<data::Subset>(all, train_idx);
    d.test = std::make_shared<data::Subset>(all, test_idx);
  }
  d.class_names = d.test->class_names();
  NORMA_CHECK(d.class_names.size() >= 2, "--data: folder ", spec.folder, " has ", d.class_names.size(),
              " class sub-folder(s); at least 2 are needed");
  if (d.train)
    measure(*d.train, d.mean, d.std);
  else
    d.mean = std::move(mean), d.std = std::move(std);
  NORMA_CHECK(d.mean.size() == size_t(shape.channels) && d.std.size() == d.mean.size(), "--data: folder ", spec.folder,
              ": no normalization statistics for ", shape.channels, " channels");
  return d;
}

data::Transforms train_transforms(const DataSpec& spec, const LoadedData& d, bool augment) {
  if (spec.builtin()) return data::standard_transforms(spec.name, augment);
  data::Transforms t;
  if (augment) {
    const int64_t side = std::min(d.test->shape().height, d.test->shape().width);
    t.push_back(std::make_shared<data::RandomCrop>(std::max<int64_t>(1, side / 8)));
    t.push_back(std::make_shared<data::RandomHorizontalFlip>());
  }
  t.push_back(std::make_shared<data::Normalize>(d.mean, d.std));
  return t;
}

data::Transforms eval_transforms(const LoadedData& d) { return {std::make_shared<data::Normalize>(d.mean, d.std)}; }

}  // namespace norma::apps
