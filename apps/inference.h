// Using a trained model: `norma eval` (a data set's test images) and `norma predict` (image
// files). Both rebuild the model from the metadata of a model.safetensors or last.ckpt.
#pragma once
#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "apps/training.h"

namespace norma::apps {

// Evaluates the model of `checkpoint` on the test set of `data` (default "": the set it was
// trained on) in batches of `batch_size` (0: the run's own), and prints the loss, accuracy,
// per-class accuracy and confusion matrix on `out`.
EvalResult eval_checkpoint(const std::string& checkpoint, const std::string& data, const std::string& data_dir,
                           int64_t batch_size, std::ostream& out);

struct Prediction {
  std::string image;
  std::vector<std::pair<std::string, float>> top;  // class name, probability; most likely first
};

// The `k` most likely classes of each image file, read as the model's input: resized to its
// shape, grayscale for a one-channel model, normalized as in training.
std::vector<Prediction> predict_images(const std::string& checkpoint, const std::vector<std::string>& images, int64_t k);

}  // namespace norma::apps
