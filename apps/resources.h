// What a training run needs from the machine: a run directory it can write, with room for its
// checkpoints and logs (checked before any work, so that a run does not fail hours in), and
// the memory it holds (logged after each epoch, so that growth shows in metrics.jsonl).
#pragma once
#include <cstdint>
#include <string>

#include "apps/training.h"
#include "layers/module.h"

namespace norma::apps {

// The most bytes a run directory holds at once, from the number of floats in the model's
// state_dict and in the optimizer's state, and the number of metrics lines the run writes.
// Checkpoints are replaced atomically (core/atomic_file.h), so while last.ckpt and
// model.safetensors are rewritten the old file and its new copy exist side by side: twice each.
int64_t run_dir_bytes_needed(int64_t model_floats, int64_t optimizer_floats, int64_t metrics_lines);

// Throws norma::Error naming `dir` (the --out flag) when a file cannot be created in it, or
// when its file system has fewer than `bytes_needed` bytes free for an unprivileged writer,
// minus `bytes_there` (the files of a resumed run, which get replaced). `dir` must exist.
void check_run_dir(const std::string& dir, int64_t bytes_needed, int64_t bytes_there);

// check_run_dir for the run of `o` (its --out, optimizer, --log-every, --eval-every) training
// `model` for `total` steps in `epochs` epochs; a resumed run's last.ckpt and model.safetensors
// count as there.
void check_run_dir(const TrainOptions& o, const nn::Module& model, int64_t total, int64_t epochs);

// This process's resident set now and its peak so far (VmRSS and VmHWM of /proc/self/status),
// in MiB; both -1 where /proc is missing.
struct MemoryUse {
  double rss_mib = -1, peak_rss_mib = -1;
};
MemoryUse memory_use();

}  // namespace norma::apps
