// SyncBatchNorm: BatchNorm whose statistics are those of the global batch across the ranks.
//
// Rank r holds x_r viewed as [N_r, C, inner]. Per channel c, over every rank's values
// (M = sum_r N_r * inner of them):
//   forward:  S = allreduce(sum x),  M = allreduce(count)          mean = S / M
//             Q = allreduce(sum (x - mean)^2)                      var  = Q / M   (two-pass)
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

#include <cmath>
#include <vector>

#include "core/autograd.h"
#include "core/distributed.h"
#include "core/kernels/norm_stats.h"

namespace norma::nn {
namespace {
constexpr int64_t kGrain = 32768;  // elements below which loops stay on one thread
}

Tensor sync_batch_norm(const Tensor& x, Tensor running_mean, Tensor running_var, const Tensor& weight,
                       const Tensor& bias, float momentum, float eps) {
  NORMA_CHECK(x.dim() >= 2, "sync_batch_norm: expected input [N, C, *], got ", x.shape());
  const int64_t N = x.size(0), C = x.size(1);
  int64_t inner = 1;
  for (int64_t d = 2; d < x.dim(); ++d) inner *= x.size(d);
  for (const Tensor* t : std::initializer_list<const Tensor*>{&weight, &bias, &running_mean, &running_var})
    NORMA_CHECK(!t->defined() || (t->shape() == Shape{C} && t->is_contiguous()),
                "sync_batch_norm: weight, bias and running statistics must be contiguous [", C, "] for input ",
                x.shape(), ", got ", t->shape());
  NORMA_CHECK(running_mean.defined() == running_var.defined(),
              "sync_batch_norm: running_mean and running_var must be both defined or both undefined");
  Tensor xc = x.contiguous().detach();
  const float* xp = xc.data();

  // Pass 1: per-channel sums and the count, reduced over the ranks (in double).
  std::vector<double> sums(size_t(C + 1), 0.0);
#pragma omp parallel for schedule(static) if (N * C * inner > kGrain)
  for (int64_t c = 0; c < C; ++c) {
    double s = 0.0;
    for (int64_t o = 0; o < N; ++o) {
      const float* p = xp + (o * C + c) * inner;
      for (int64_t i = 0; i < inner; ++i) s += p[i];
    }
    sums[size_t(c)] = s;
  }
  sums[size_t(C)] = double(N * inner);
  dist::allreduce_sum(sums.data(), C + 1);
  const double M = sums[size_t(C)];
  NORMA_CHECK(M > 1, "sync_batch_norm: expected more than 1 value per channel over all ranks when training, got ",
              M, " (input ", x.shape(), " on this rank)");
  std::vector<double> mean_d(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) mean_d[size_t(c)] = sums[size_t(c)] / M;

  // Pass 2: squared deviations from the global mean, reduced over the ranks.
  std::vector<double> sq(size_t(C), 0.0);
#pragma omp parallel for schedule(static) if (N * C * inner > kGrain)
  for (int64_t c = 0; c < C; ++c) {
    const double m = mean_d[size_t(c)];
    double s = 0.0;
    for (int64_t o = 0; o < N; ++o) {
      const float* p = xp + (o * C + c) * inner;
      for (int64_t i = 0; i < inner; ++i) s += (p[i] - m) * (p[i] - m);
    }
    sq[size_t(c)] = s;
  }
  dist::allreduce_sum(sq.data(), C);

  Tensor mean = empty({C}), rstd = empty({C});
  float* mp = mean.data();
  float* rp = rstd.data();
  for (int64_t c = 0; c < C; ++c) {
    const double var = sq[size_t(c)] / M;
    mp[c] = float(mean_d[size_t(c)]);
    rp[c] = float(1.0 / std::sqrt(var + double(eps)));
    if (running_mean.defined()) {
      float& rm = running_mean.data()[c];
      float& rv = running_var.data()[c];
      rm = (1.f - momentum) * rm + momentum * mp[c];
      rv = (1.f - momentum) * rv + momentum * float(var * M / (M - 1));
    }
  }

  // y = (x - mean) * (rstd * gamma) + beta, one row of `inner` values per (sample, channel)
  Tensor wv = weight.defined() ? weight.detach() : Tensor();
  const float* wp = weight.defined() ? weight.data() : nullptr;
  const float* bp = bias.defined() ? bias.data() : nullptr;
  Tensor out = empty(x.shape());
  float* yp = out.data();
#pragma omp parallel for schedule(static) if (N * C * inner > kGrain)
  for (int64_t r = 0; r < N * C; ++r) {
    const int64_t c = r % C;
    const float mu = mp[c], scale = rp[c] * (wp ? wp[c] : 1.f), shift = bp ? bp[c] : 0.f;
    const float* xr = xp + r * inner;
    float* yr = yp + r * inner;
    for (int64_t i = 0; i < inner; ++i) yr[i] = (xr[i] - mu) * scale + shift;
  }

  const bool need_x = needs_grad(x), need_w = needs_grad(weight), need_b = needs_grad(bias);
  return record("sync_batch_norm", out, {x, weight, bias},
                [xc, mean, rstd, wv, N, C, inner, M, need_x, need_w, need_b](const Tensor& gout) -> std::vector<Tensor> {
    Tensor dyc = gout.contiguous();
    const float *dy = dyc.data(), *xp = xc.data(), *mp = mean.data(), *rp = rstd.data();
    const float* wp = wv.defined() ? wv.data() : nullptr;
    // This rank's sum_dy and sum_dy_xhat (the weight and bias gradients), then the global ones.
    std::vector<float> sums(size_t(2 * C));
    channel_grad_sums(dy, xp, mp, rp, N, C, inner, sums.data(), sums.data() + C);
    Tensor dweight = need_w ? from_vector(std::vector<float>(sums.begin() + C, sums.end()), {C}) : Tensor();
    Tensor dbias = need_b ? from_vector(std::vector<float>(sums.begin(), sums.begin() + C), {C}) : Tensor();
    // Every rank must take part in the reduction, whether or not it needs dL/dx.
    dist::allreduce_sum(sums.data(), 2 * C);
    if (!need_x) return {Tensor(), dweight, dbias};

    // dL/dx = gamma * rstd * (dy - sum_dy / M - x_hat * sum_dy_xhat / M)
    Tensor dx = empty(xc.shape());
    float* dxp = dx.data();
    const float inv_m = float(1.0 / M);
#pragma omp parallel for schedule(static) if (N * C * inner > kGrain)
    for (int64_t r = 0; r < N * C; ++r) {
      const int64_t c = r % C;
      const float mu = mp[c], rs = rp[c], k = (wp ? wp[c] : 1.f) * rs;
      const float mean_dy = sums[size_t(c)] * inv_m, mean_dy_xhat = sums[size_t(C + c)] * inv_m;
      const float *g = dy + r * inner, *xr = xp + r * inner;
      float* d = dxp + r * inner;
      for (int64_t i = 0; i < inner; ++i) d[i] = k * (g[i] - mean_dy - (xr[i] - mu) * rs * mean_dy_xhat);
    }
    return {dx, dweight, dbias};
  });
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
