// SyncBatchNorm: BatchNorm2d's API. In one process it is exactly BatchNorm2d; under MPI (the
// distributed issue) the per-channel sums are reduced across ranks so every rank normalizes
// with the statistics of the global batch.
#pragma once
#include "layers/norm/batch_norm.h"

namespace norma::nn {

class SyncBatchNorm : public BatchNorm {
 public:
  explicit SyncBatchNorm(int64_t num_features, float eps = 1e-5f, std::optional<float> momentum = 0.1f,
                         bool affine = true, bool track_running_stats = true);

 protected:
  void check_input(const Tensor& x) const override;
};

}  // namespace norma::nn
