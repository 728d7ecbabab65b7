// A plain training loop for the experiments' own networks on MNIST or CIFAR-10 (the built-in models go
// through apps/training.h's train(), which also writes a run directory).
//
// SGD (torch.optim.SGD's rule) on the mean cross-entropy, batches in a seeded
// order with the last incomplete batch dropped (so every step sees exactly batch_size images:
// GhostBatchNorm needs a multiple of its ghost size), dropout's masks reseeded before each step
// from (seed, step) as train() does: the same seed and thread count give the same weights.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "apps/experiments/experiment.h"
#include "data/dataset.h"
#include "data/transforms.h"
#include "layers/module.h"
#include "optim/schedule.h"

namespace norma::apps::experiments {

struct ClassifierData {
  std::shared_ptr<const data::Dataset> train, test;
  data::Transforms train_transforms, test_transforms;  // the normalization (+ augmentation in train's)
};
// MNIST from ctx.data_dir (fetched on first use), normalized by its mean and std.
ClassifierData load_mnist(const Context& ctx);
// CIFAR-10 likewise; with `augment`, the training images are also randomly cropped (pad 4) and
// flipped, as `norma train --augment`.
ClassifierData load_cifar10(const Context& ctx, bool augment);

struct LoopOptions {
  int64_t batch_size = 128;
  double lr = 0.05;
  double momentum = 0.9;
  int64_t epochs = 1;
  int64_t max_steps = 0;   // > 0: stop after this many steps
  uint64_t seed = 0;       // batch order and dropout masks (the caller seeds the weights)
  double max_loss = 1e4;   // a loss that is NaN or above this ends the run as diverged
  double weight_decay = 0;  // on the weights (dim >= 2) only, not on norm parameters and biases
  bool nesterov = false;
  float label_smoothing = 0;
  std::shared_ptr<optim::Schedule> schedule;  // null: constant lr
  std::string label;       // names the run in progress lines
  // Called after each epoch (1-based) with the model still in training mode, e.g. to evaluate.
  std::function<void(int64_t epoch)> after_epoch;
  // Called after each step (1-based; the weights updated, the gradients zeroed), and once
  // before the first with 0, e.g. to probe the loss landscape. Its time is not training time.
  std::function<void(int64_t step)> after_step;
};

struct LoopResult {
  int64_t steps = 0;
  double seconds = 0;       // training time, evaluations excluded
  double train_loss = 0;    // mean loss of the last epoch's steps
  double train_accuracy = 0;  // and their accuracy (on the transformed training batches)
  std::vector<float> losses;  // every step's loss
  bool diverged = false;
};

// Trains `model` in place; progress (one line per epoch) goes to `log` when not null.
LoopResult train_classifier(nn::Module& model, const ClassifierData& d, const LoopOptions& o, std::ostream* log);

// Test accuracy in eval mode (the model's mode is restored).
double test_accuracy(nn::Module& model, const ClassifierData& d, int64_t batch_size = 1000);

// The first `count` test images (normalized) and their labels, in order, as one batch.
data::Batch test_batch(const ClassifierData& d, int64_t count);

// printf into a std::string, for the reports' tables.
std::string strf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// A derived seed (data::derive_seed) for the weights of run `seed`.
uint64_t init_seed(uint64_t seed);

}  // namespace norma::apps::experiments
