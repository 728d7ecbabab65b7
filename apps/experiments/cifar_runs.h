// What the CIFAR-10 experiments built on `norma train` share: the recipe (SGD momentum 0.9,
// weight decay 5e-4, batch 128, pad-4 crop + flip, one-cycle LR), the run keys, and reading the
// curves that train_run() keeps.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "apps/experiments/experiment.h"
#include "apps/training.h"

namespace norma::apps::experiments {

// The recipe for `model` with `norm` at peak LR `lr` for `epochs` epochs (one-cycle over the
// whole run); with `quick_steps` > 0 and ctx.quick, only that many steps (the one cycle over
// them), and never more than ctx.max_steps. Evaluates after every epoch.
TrainOptions cifar_recipe(const Context& ctx, const std::string& model, const std::string& norm, double lr,
                          int64_t epochs, uint64_t seed, int64_t quick_steps);

// A file-name-safe key naming the run's settings, e.g. "resnet20-bn-lr0.1-seed0-e10" (or
// "...-steps40" for a cut run), so runs of other lengths are never mistaken for it.
std::string cifar_key(const TrainOptions& o);

// Mean of the logged training losses of the last epoch the run reached (NaN without any).
double last_epoch_loss(const nlohmann::json& run);
// The last test accuracy, or NaN for a run that diverged.
double final_accuracy(const nlohmann::json& run);
// The test accuracy after `epoch` (1-based), or the last one before it; NaN when none.
double accuracy_at_epoch(const nlohmann::json& run, int64_t epoch);

// The run's curves as figure lines: test accuracy against epoch (the step / steps per epoch,
// so cut runs land at fractions), training loss against step.
Series accuracy_series(const std::string& title, const nlohmann::json& run, int64_t steps_per_epoch);
Series loss_series(const std::string& title, const nlohmann::json& run);

constexpr int64_t kCifarStepsPerEpoch = 391;  // 50,000 / 128, the last partial batch included

// "0.9123" or "diverged" / "n/a" for a NaN.
std::string accuracy_text(double a, bool diverged = false);

}  // namespace norma::apps::experiments
