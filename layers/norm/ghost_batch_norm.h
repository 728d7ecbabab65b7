// GhostBatchNorm (Hoffer, Hubara & Soudry 2017): in training, the batch is split into chunks
// of virtual_batch_size samples and each chunk is normalized with its own statistics; the
// running statistics are updated from each chunk in turn. Eval is BatchNorm's.
// Accepts [N, C], [N, C, L] and [N, C, H, W]; N must be a multiple of virtual_batch_size
// in training (else a clear error).
#pragma once
#include "layers/norm/batch_norm.h"

namespace norma::nn {

class GhostBatchNorm : public BatchNorm {
 public:
  GhostBatchNorm(int64_t num_features, int64_t virtual_batch_size, float eps = 1e-5f,
                 std::optional<float> momentum = 0.1f, bool affine = true, bool track_running_stats = true);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  int64_t virtual_batch_size;

 protected:
  void check_input(const Tensor& x) const override;
};

}  // namespace norma::nn
