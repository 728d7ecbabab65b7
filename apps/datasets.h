// The data sets the command line trains and evaluates on, by their --data name:
//   mnist, fashion-mnist, cifar10   the built-in sets (fetched into the data dir on first use)
//   folder:PATH                     an image folder (data/image_folder.h), one sub-folder per
//                                   class; PATH/train and PATH/test (or PATH/val) when both
//                                   exist, else PATH itself split: every 10th image of the
//                                   sorted listing is held out for testing
// Images of a folder are resized to the model's input shape; its per-channel mean and std are
// measured on the training images. Every set is normalized by its mean and std, which go into
// the saved model so that eval and predict use the same.
#pragma once
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/transforms.h"

namespace norma::apps {

struct DataSpec {
  std::string name;    // mnist, fashion-mnist, cifar10 or folder
  std::string folder;  // folder: its path
  std::string str() const { return name == "folder" ? "folder:" + folder : name; }
  bool builtin() const { return name != "folder"; }
  // A short name for run directories: the set's name, or the folder's base name.
  std::string short_name() const;
};

// Parses --data; throws "--data: ..." listing the valid choices.
DataSpec parse_data_spec(const std::string& text);
const std::vector<std::string>& builtin_datasets();  // mnist, fashion-mnist, cifar10

// The image shape of a built-in set ([1, 28, 28] or [3, 32, 32]).
data::ImageShape builtin_shape(const std::string& name);

struct LoadedData {
  std::shared_ptr<const data::Dataset> train, test;  // train is null when not asked for
  std::vector<std::string> class_names;
  std::vector<float> mean, std;  // per channel
};

// Loads the test set (and the training set when `train`), fetching a missing built-in set.
// `shape` is the model's input: a folder's images are resized to it. mean/std: for a folder
// without a training set loaded, the ones saved with the model (else they are measured).
LoadedData load_data(const DataSpec& spec, const std::string& data_dir, const data::ImageShape& shape, bool train,
                     std::ostream& log, std::vector<float> mean = {}, std::vector<float> std = {});

// The training pipeline: for cifar10 and folders with `augment`, a random crop (padding 4, or
// an eighth of the side) and a horizontal flip, then the normalization.
data::Transforms train_transforms(const DataSpec& spec, const LoadedData& d, bool augment);
// The evaluation pipeline: the normalization alone.
data::Transforms eval_transforms(const LoadedData& d);

}  // namespace norma::apps
