// SyncBatchNorm: BatchNorm whose statistics are those of the global batch across the ranks.
//
// Rank r holds x_r viewed as [N_r, C, inner]. Per channel c, over every rank's values
// (M = sum_r N_r * inner of them):
//   forward:  S = allreduce(sum x),  M = allreduce(count)          mean = S / M
//             Q = allreduce(sum (x - mean)^2)                      var  = Q / M
//             (two-pass, sums in double, the rest in float exactly as BatchNorm's)
//             y = (x - mean) * rstd * gamma + beta,                rstd = 1 / sqrt(var + eps)
//             running stats move towards mean and var * M / (M - 1) (global, unbiased)
//   backward: with dy = dL_r/dy the gradient of this rank's loss,
//             sum_dy = allreduce(sum dy),  sum_dy_xhat = allreduce(sum dy * x_hat)
//             dL/dx  = gamma * rstd * (dy - sum_dy / M - x_hat * sum_dy_xhat / M)
//             dL/dgamma, dL/dbeta: this rank's own sums (sum dy * x_hat, sum dy).
// Why the weight gradients stay local (as PyTorch's): data-parallel training averages every
// parameter gradient over the K ranks afterwards. With each rank's loss the mean over its
// equal share, the global loss is L = 1/K sum_r L_r, and dL_r/dy = K dL/dy; so the dL/dx
// above is K times the global one, every gradient upstream is K times rank r's part of the
// global gradient, and the average over ranks, 1/K sum_r K * part_r, is the global gradient.
// The same holds for gamma and beta, whose local sums are K times rank r's part.
#include "layers/norm/sync_batch_norm.h"

#include "core/distributed.h"

namespace norma::nn {

// The arithmetic is batch_norm's, float step for float step (batch_norm.cpp, across_ranks):
// only the sums are all-reduced, so one process gives batch_norm's floats exactly and K ranks
// differ from one process only by the order in which the ranks' partial sums are added.
Tensor sync_batch_norm(const Tensor& x, Tensor running_mean, Tensor running_var, const Tensor& weight,
                       const Tensor& bias, float momentum, float eps) {
  const int64_t N = x.dim() >= 1 ? x.size(0) : 0;
  return detail::batch_norm_fused(x, running_mean, running_var, weight, bias, true, N, {momentum}, eps, true);
}

SyncBatchNorm::SyncBatchNorm(int64_t num_features, float eps, std::optional<float> momentum, bool affine,
                             bool track_running_stats)
    : BatchNorm("SyncBatchNorm", num_features, eps, momentum, affine, track_running_stats) {}

// As PyTorch's: the statistics are synchronised in training only; eval normalizes with the
// running statistics, which every rank holds alike.
Tensor SyncBatchNorm::forward(const Tensor& x) {
  if (!training_ || dist::world_size() == 1) return BatchNorm::forward(x);
  check_input(x);
  NORMA_CHECK(x.size(1) == num_features, type_name(), ": expected ", num_features,
              " channels (num_features) in dim 1, got input of shape ", x.shape());
  const float factor = track_running_stats ? next_average_factor() : 0.f;
  Tensor rmean = track_running_stats ? buffer("running_mean") : Tensor();
  Tensor rvar = track_running_stats ? buffer("running_var") : Tensor();
  return sync_batch_norm(x, rmean, rvar, affine ? param("weight") : Tensor(), affine ? param("bias") : Tensor(),
                         factor, eps);
}

// As PyTorch's SyncBatchNorm: any [N, C, *] input of at least 2 dims.
void SyncBatchNorm::check_input(const Tensor& x) const {
  NORMA_CHECK(x.dim() >= 2, "SyncBatchNorm: expected at least 2D input [N, C, *], got ", x.shape());
}

}  // namespace norma::nn
