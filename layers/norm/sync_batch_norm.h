// SyncBatchNorm: BatchNorm2d's API, with the statistics of the global batch across the ranks
// of data-parallel training (core/distributed.h), as torch.nn.SyncBatchNorm.
//
// In one process (world size 1) and in eval mode it is exactly BatchNorm2d (BatchNorm::forward).
// Training under mpirun with K > 1 ranks it calls sync_batch_norm(), below.
#pragma once
#include "layers/norm/batch_norm.h"

namespace norma::nn {

// Training-mode batch norm whose per-channel statistics are those of the union of every
// rank's x (x: [N, C, *]; N may differ between ranks, C and * may not). running_mean/var may
// be undefined; when defined they move towards the global statistics with weight `momentum`.
// With one rank it computes batch_norm(training=true) exactly (the same code, bit for bit). Every rank must
// call it, in the same order (it holds two all-reduces, and its backward a third).
Tensor sync_batch_norm(const Tensor& x, Tensor running_mean, Tensor running_var, const Tensor& weight,
                       const Tensor& bias, float momentum = 0.1f, float eps = 1e-5f);

class SyncBatchNorm : public BatchNorm {
 public:
  explicit SyncBatchNorm(int64_t num_features, float eps = 1e-5f, std::optional<float> momentum = 0.1f,
                         bool affine = true, bool track_running_stats = true);
  Tensor forward(const Tensor& x) override;

 protected:
  void check_input(const Tensor& x) const override;
};

}  // namespace norma::nn
