// GhostBatchNorm (Hoffer, Hubara & Soudry 2017, "Train longer, generalize better"): large-batch
// training normalizes each "ghost" batch of virtual_batch_size samples with its own statistics,
// which keeps the regularizing noise of small-batch BatchNorm.
//
// Training, x: [N, C, *] cut along N into G = N / virtual_batch_size chunks x_g:
//   y_g = (x_g - mean(x_g)) / sqrt(var(x_g) + eps) * gamma + beta    (statistics per channel)
//   running statistics updated from x_1, then x_2, ... (one momentum step per chunk; with
//   momentum unset, num_batches_tracked counts chunks and the factor is 1/num_batches_tracked)
// Eval: BatchNorm's (running statistics).
// The fused kernel, its backward and the derivation are batch_norm's (layers/norm/batch_norm.cpp):
// ghost_batch_norm is that op with one group of statistics per chunk, so no slicing or cat.
#include "layers/norm/ghost_batch_norm.h"

namespace norma::nn {

GhostBatchNorm::GhostBatchNorm(int64_t num_features, int64_t virtual_batch_size_, float eps,
                               std::optional<float> momentum, bool affine, bool track_running_stats)
    : BatchNorm("GhostBatchNorm", num_features, eps, momentum, affine, track_running_stats),
      virtual_batch_size(virtual_batch_size_) {
  NORMA_CHECK(virtual_batch_size > 0, "GhostBatchNorm: virtual_batch_size must be positive, got ",
              virtual_batch_size);
}

void GhostBatchNorm::check_input(const Tensor& x) const {
  NORMA_CHECK(x.dim() >= 2 && x.dim() <= 4,
              "GhostBatchNorm: expected input [N, C], [N, C, L] or [N, C, H, W], got ", x.shape());
}

Tensor GhostBatchNorm::forward(const Tensor& x) {
  if (!training_) return BatchNorm::forward(x);
  check_input(x);
  NORMA_CHECK(x.size(1) == num_features, "GhostBatchNorm: expected ", num_features,
              " channels (num_features) in dim 1, got input of shape ", x.shape());
  const int64_t N = x.size(0);
  NORMA_CHECK(N % virtual_batch_size == 0, "GhostBatchNorm: batch size ", N,
              " is not a multiple of virtual_batch_size=", virtual_batch_size, " (input of shape ", x.shape(), ")");
  int64_t per_channel = virtual_batch_size;  // values per channel in one chunk
  for (int64_t d = 2; d < x.dim(); ++d) per_channel *= x.size(d);
  NORMA_CHECK(per_channel > 1, "GhostBatchNorm: expected more than 1 value per channel in each virtual batch of ",
              virtual_batch_size, " when training, got input of shape ", x.shape());
  std::vector<float> factors;
  if (track_running_stats)
    for (int64_t g = 0; g < N / virtual_batch_size; ++g) factors.push_back(next_average_factor());
  Tensor rmean = track_running_stats ? buffer("running_mean") : Tensor();
  Tensor rvar = track_running_stats ? buffer("running_var") : Tensor();
  return ghost_batch_norm(x, rmean, rvar, affine ? param("weight") : Tensor(), affine ? param("bias") : Tensor(),
                          virtual_batch_size, factors, eps);
}

std::string GhostBatchNorm::extra_repr() const {
  return BatchNorm::extra_repr() + ", virtual_batch_size=" + std::to_string(virtual_batch_size);
}

}  // namespace norma::nn
