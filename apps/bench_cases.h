// The cases of `norma bench`, as norma runs them. apps/bench_torch.py defines the same cases
// under the same names for PyTorch; apps/bench.cpp runs the two side by side.
//
// Timing (the same in both): one warm-up run, one calibration run that sets how many
// iterations a timed run repeats (enough for ~50 ms, so that fast cases are not lost in clock
// noise), then `repeats` timed runs; the figure is the median time per iteration.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace norma::apps {

struct BenchCase {
  std::string name;
  std::string unit;    // "img/s" (items per second) or "ms" (per iteration)
  double items = 0;    // images per iteration, for img/s
  double flops = 0;    // per iteration, for GFLOP/s; 0 = not reported
  bool blas_bound = false;  // rerun with OpenBLAS's own kernel choice (see apps/bench.cpp)
  std::function<std::function<void()>()> setup;  // builds inputs (untimed), returns one iteration
};

// Every case, in the order the table prints them.
std::vector<BenchCase> bench_cases();

// Median seconds per iteration of run (see above).
double median_seconds(const std::function<void()>& run, int repeats);

// A training step of `model` ("resnet20", ...) with norm `norm` ("bn", "gn") on a random batch,
// built once: forward, cross-entropy and backward, then the update: SGD (lr 0.01, momentum
// 0.9) step and zero_grad.
struct TrainStep {
  std::function<void()> forward_backward, update;
  void operator()() const { forward_backward(), update(); }
};
TrainStep make_train_step(const std::string& model, const std::string& norm, int64_t batch);

// Peak resident memory (VmHWM) and resident memory just before the first of three resnet20+BN
// training steps (batch 128), in bytes, measured in this process: call it in a fresh process
// (`norma bench --peak-rss-child`). Not getrusage's ru_maxrss: Linux carries that over exec
// from the forked parent, so a child of a 700 MiB `norma bench` reported 700 MiB whatever it did.
struct PeakRss {
  double before_bytes = 0, peak_bytes = 0;
};
PeakRss measure_peak_rss();

}  // namespace norma::apps
