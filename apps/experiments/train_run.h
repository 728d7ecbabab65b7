// One run of `norma train`'s loop inside an experiment: the training directory lives under
// <ctx.out>/train/<key> while it runs, so an interrupted run resumes from its last checkpoint
// (exactly: apps/training.cpp); the finished result is kept by cached_run under
// <ctx.out>/runs/<key>.json and the directory, with its checkpoints, removed.
#pragma once
#include <string>

#include "apps/experiments/experiment.h"
#include "apps/training.h"

namespace norma::apps::experiments {

// The result: {"diverged": false, "test_accuracy", "test_loss", "steps", "seconds"}, or for a run
// whose loss blew up (training.h's max_loss), {"diverged": true, "message": "training diverged at
// step ...", ...}; either way with the curves up to the end: "loss_step", "loss_epoch" and "loss" (the mean
// training loss of every log_every steps), "eval_step", "eval_epoch" and "test_accuracy_curve"
// (every evaluation: each epoch's end, and every eval_every steps when set). A line per finished run goes to ctx.log; train()'s own progress does not.
nlohmann::json train_run(const Context& ctx, const std::string& key, TrainOptions options);

}  // namespace norma::apps::experiments
