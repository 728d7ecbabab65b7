// The training loop behind `norma train`, and the evaluation that train and `norma eval` share.
// apps/train.cpp maps the flags onto TrainOptions; tests call train() directly.
#pragma once
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/transforms.h"
#include "layers/module.h"
#include "optim/optimizer.h"

namespace norma::apps {

struct TrainOptions {
  std::string data = "mnist";  // mnist, fashion-mnist, cifar10 or folder:PATH
  std::string data_dir;        // "": $NORMA_DATA, else ./data
  std::string model = "lenet";
  std::string norm = "bn";
  int64_t norm_groups = 16;    // gn: the most groups
  int64_t ghost_batch = 32;    // ghost: samples per virtual batch
  int64_t epochs = 1;
  int64_t steps = 0;           // > 0: train this many steps instead of whole epochs
  int64_t batch_size = 128;
  double lr = 0.05;
  std::string optimizer = "sgd";  // sgd, adam, adamw
  double momentum = 0.9;          // SGD's momentum; Adam's and AdamW's beta1
  double weight_decay = 0;        // not on norm parameters and biases (1-d tensors)
  std::string schedule = "constant";
  int64_t warmup = 0;             // steps of linear warm-up
  bool augment = false;           // cifar10, folders: random crop and horizontal flip
  uint64_t seed = 0;
  int threads = 0;                // 0: OpenMP's default
  std::string out;                // "": runs/<model>-<norm>-<data>-<time>, or the resumed run's
  std::string resume;             // a last.ckpt to continue
  int64_t eval_every = 0;         // > 0: also evaluate every this many steps
  int64_t checkpoint_every = 200; // > 0: also checkpoint every this many steps
  int64_t log_every = 50;         // a metrics.jsonl line every this many steps
  // The run has diverged when the loss is NaN, Inf or above this: a cross-entropy of 1e4 means
  // logits thousands apart, blown up (BatchNorm keeps a too-high lr from ever reaching Inf).
  double max_loss = 1e4;
  // Not a flag: stop after this many steps of this call as an interrupt (Ctrl-C) does,
  // checkpointing first. Tests use it to cut a run in pieces.
  int64_t stop_after = 0;
};

// The settings that decide the run's result: a resumed run must have the same.
const std::vector<std::string>& run_settings();  // "data", "model", ..., "seed"

// Throws, naming the flag, for any impossible setting (batch size 0, negative lr, a model
// whose input does not fit the data, an unknown name, a norm the model cannot take...).
// Cheap: nothing is read or fetched.
void check_options(const TrainOptions& o);

// With --resume: the run settings of the checkpoint's run, except those in `given` (setting
// names, e.g. "batch_size"), which train() then checks against the checkpoint.
void settings_from_checkpoint(TrainOptions& o, const std::vector<std::string>& given);

// The index of each row's largest logit ([N, classes] -> N labels).
std::vector<int64_t> predictions(const Tensor& logits);

// The optimizer's parameter groups: the weights (dim >= 2) take the optimizer's weight decay,
// norm parameters and biases (dim <= 1) none.
std::vector<optim::ParamGroup> weight_decay_groups(const nn::Module& model);

struct EvalResult {
  double loss = 0;      // mean cross-entropy
  double accuracy = 0;  // fraction right
  int64_t count = 0;
  int64_t num_classes = 0;
  std::vector<int64_t> confusion;  // [true class][predicted class], row-major
  double class_accuracy(int64_t c) const;  // NaN for a class with no examples
};

// Loss, accuracy and confusion matrix of `model` on `dataset`, in eval mode without gradients
// (the model's mode is restored), in batches of `batch_size` in the dataset's order.
EvalResult evaluate(nn::Module& model, std::shared_ptr<const data::Dataset> dataset, const data::Transforms& transforms,
                    int64_t batch_size);

struct TrainResult {
  std::string out;       // the run directory
  int64_t steps = 0;     // steps done in all, resumed ones included
  bool interrupted = false;
  EvalResult test;       // the last evaluation
  double seconds = 0;    // training time of this call
};

// Trains as the options say, printing progress on `out` (redrawn in place when `tty`).
// Throws norma::Error for bad options (before any work) and when the run diverges (see
// max_loss), after recording it in metrics.jsonl; last.ckpt keeps the last good state.
TrainResult train(TrainOptions o, std::ostream& out, bool tty = false);

}  // namespace norma::apps
