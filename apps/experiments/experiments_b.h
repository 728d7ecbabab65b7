// Experiments 4-7 of `norma experiment` (issue 5): ghost-bn, train-eval, dropout-shift,
// rmsnorm. Each runs as the Experiment contract says (apps/experiments/experiment.h); the
// measurements they are built from are declared here too, so the tests can run them small.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "apps/experiments/experiment.h"
#include "data/dataset.h"
#include "layers/module.h"

namespace norma::apps::experiments {

// The registry's entries (apps/experiments/registry.cpp).
Experiment ghost_bn_experiment();       // apps/experiments/ghost_bn.cpp
Experiment train_eval_experiment();     // apps/experiments/train_eval.cpp
Experiment dropout_shift_experiment();  // apps/experiments/dropout_shift.cpp
Experiment rmsnorm_experiment();        // apps/experiments/rmsnorm.cpp

// ---- ghost-bn (Hoffer, Hubara & Soudry 2017) ----
extern const char* const kGhostBnSummary;
extern const char* const kGhostBnDescription;
Report run_ghost_bn(const Context& ctx);
// The fraction of the small/large-batch test-error gap that ghost batches close:
// (large - ghost) / (large - small); NaN when the gap is under min_gap (inconclusive).
double gap_closed(double err_small, double err_large, double err_ghost, double min_gap);

// ---- train-eval ----
extern const char* const kTrainEvalSummary;
extern const char* const kTrainEvalDescription;
Report run_train_eval(const Context& ctx);
// How the BatchNorm layers run during the evaluation: Eval (right), Train (model.train():
// BN batch statistics and dropout on; the bug), BatchStats (BN on batch statistics, dropout
// off: BN's share of the bug).
enum class EvalMode { Eval, Train, BatchStats };
// Accuracy of `model` on `batch` cut into consecutive batches of `batch_size` (a last smaller
// one included) in the given mode, without gradients. The model's mode and every buffer
// (running statistics) are restored afterwards: the wrong-mode pass leaves no trace.
// Dropout's masks come from Generator(seed).
double accuracy_in_mode(nn::Module& model, const data::Batch& batch, int64_t batch_size, EvalMode mode,
                        uint64_t seed = 0);

// ---- dropout-shift (Li, Chen, Hu & Yang 2019) ----
extern const char* const kDropoutShiftSummary;
extern const char* const kDropoutShiftDescription;
Report run_dropout_shift(const Context& ctx);
// Li et al.'s closed form for x ~ N(c, v) through Dropout(q) then BN: the ratio of the variance
// BN sees in eval to the running variance it learned in training, v / ((c^2 + v) / (1 - q) - c^2).
double variance_shift_formula(double c, double v, double q);
// The same ratio measured with norma's Dropout and BatchNorm1d: `channels` independent features
// x ~ N(c, 1), batches of `batch_size`, `steps` training steps to settle the running variance
// (momentum 0.1), then the eval-mode variance of `eval_samples` fresh samples over the running
// variance, averaged over the channels.
double measured_variance_shift(double c, double q, int64_t steps, int64_t batch_size, int64_t channels,
                               int64_t eval_samples, uint64_t seed);
// Per channel, the variance of a recorded BN input over every axis but the channel's (biased),
// divided by the layer's running variance; the mean over the channels.
double bn_input_shift(const Tensor& input, const Tensor& running_var);

// ---- rmsnorm (Zhang & Sennrich 2019) ----
extern const char* const kRmsNormSummary;
extern const char* const kRmsNormDescription;
Report run_rmsnorm(const Context& ctx);
struct NormTiming {
  double layer_norm_ms = 0, rms_norm_ms = 0;  // medians of forward + backward
};
// LayerNorm({cols}) and RMSNorm({cols}) (affine) forward + backward on a [rows, cols] input
// that requires grad, alternating the two so that a slow spell of a shared machine hits both:
// `warmup` untimed rounds, then the median of `repeats` timed ones.
NormTiming time_norms(int64_t rows, int64_t cols, int warmup, int repeats, uint64_t seed = 0);

}  // namespace norma::apps::experiments
