// InstanceNorm1d/2d, fused. x [N, C, *] is viewed as [N*C, S] (S = product of the spatial
// dims): one row per (n, c). With the statistics of the row (training, or no running stats):
//
//   mean[n,c]   = 1/S sum_s x[n,c,s]
//   var[n,c]    = 1/S sum_s (x[n,c,s] - mean[n,c])^2              (biased)
//   rstd[n,c]   = 1 / sqrt(var[n,c] + eps)
//   xhat[n,c,s] = (x[n,c,s] - mean[n,c]) * rstd[n,c]
//   y[n,c,s]    = xhat[n,c,s] * weight[c] + bias[c]                (weight 1, bias 0 if no affine)
//
// With track_running_stats, training also updates (f = momentum, or 1/num_batches_tracked)
//   running_mean[c] = (1 - f) running_mean[c] + f * 1/N sum_n mean[n,c]
//   running_var[c]  = (1 - f) running_var[c]  + f * 1/N sum_n var[n,c] * S / (S - 1)   (unbiased)
// which is what PyTorch gets by running batch_norm on x viewed as [1, N*C, S] with the running
// statistics repeated N times, then averaging them over n. Eval then uses
//   mean[n,c] = running_mean[c],  rstd[n,c] = 1 / sqrt(running_var[c] + eps)
// in the same y formula, as constants.
#include "layers/norm/instance_norm.h"

#include <cmath>
#include <vector>

#include "core/autograd.h"
#include "core/kernels/norm_stats.h"
#include "core/ops/shape_ops.h"

namespace norma::nn {
namespace {
constexpr int64_t kGrain = 32768;  // elements below which the loops stay on one thread

// x: [N, C, *]. running_mean/var: [C] buffers, updated in place when use_input_stats and
// defined; otherwise (use_input_stats false) they are the statistics.
Tensor instance_norm(const std::string& name, const Tensor& x, Tensor running_mean, Tensor running_var,
                     const Tensor& weight, const Tensor& bias, bool use_input_stats, float factor, float eps) {
  const int64_t N = x.shape()[0], C = x.shape()[1];
  int64_t S = 1;
  for (int64_t d = 2; d < x.dim(); ++d) S *= x.shape()[d];
  NORMA_CHECK(!use_input_stats || S > 1, name, ": expected more than 1 spatial element when training, got input ",
              x.shape());
  Tensor xc = x.detach().contiguous();
  // mean = mean_hi + mean_lo (norm_stats.h): x - mean_hi is exact near the mean, so a large
  // common offset loses nothing to the float mean's rounding (mean_lo is 0 in eval).
  Tensor mean = empty({N * C}), mean_lo = zeros({N * C}), rstd = empty({N * C});
  float *mp = mean.data(), *lp = mean_lo.data(), *sp = rstd.data();
  if (use_input_stats) {
    row_mean_var(xc.data(), N * C, S, mp, sp, lp);  // sp holds var until rstd is computed
    if (running_mean.defined() && N > 0) {
      float *rm = running_mean.data(), *rv = running_var.data();
      for (int64_t c = 0; c < C; ++c) {
        // running = (1 - f) running + f * (batch mean of the per-instance mean / unbiased var)
        double m = 0.0, v = 0.0;
        for (int64_t n = 0; n < N; ++n) m += double(mp[n * C + c]) + lp[n * C + c], v += sp[n * C + c];
        rm[c] = (1.f - factor) * rm[c] + factor * float(m / double(N));
        rv[c] = (1.f - factor) * rv[c] + factor * float(v / double(N) * double(S) / double(S - 1));
      }
    }
    // rstd = 1 / sqrt(var + eps)
    for (int64_t i = 0; i < N * C; ++i) sp[i] = 1.f / std::sqrt(sp[i] + eps);
  } else {
    // eval: mean = running_mean[c], rstd = 1 / sqrt(running_var[c] + eps)
    const float *rm = running_mean.data(), *rv = running_var.data();
    for (int64_t i = 0; i < N * C; ++i) mp[i] = rm[i % C], sp[i] = 1.f / std::sqrt(rv[i % C] + eps);
  }

  Tensor wc = weight.defined() ? weight.detach().contiguous() : Tensor();
  Tensor bc = bias.defined() ? bias.detach().contiguous() : Tensor();
  const float* xp = xc.data();
  const float* w = wc.defined() ? wc.data() : nullptr;
  const float* b = bc.defined() ? bc.data() : nullptr;
  Tensor out = empty(x.shape());
  float* yp = out.data();
#pragma omp parallel for schedule(static) if (x.numel() > kGrain)
  for (int64_t nc = 0; nc < N * C; ++nc) {
    const int64_t c = nc % C;
    // y = (x - mean) * rstd * weight[c] + bias[c] = (x - mean_hi) * scale + (bias[c] - mean_lo * scale)
    const float m = mp[nc], scale = sp[nc] * (w ? w[c] : 1.f), shift = (b ? b[c] : 0.f) - lp[nc] * scale;
    const float* xr = xp + nc * S;
    float* yr = yp + nc * S;
    for (int64_t s = 0; s < S; ++s) yr[s] = (xr[s] - m) * scale + shift;
  }

  const bool need_x = needs_grad(x), need_w = needs_grad(weight), need_b = needs_grad(bias);
  return record("instance_norm", out, {x, weight, bias},
                [xc, wc, mean, mean_lo, rstd, N, C, S, use_input_stats, need_x, need_w, need_b](
                    const Tensor& gout) -> std::vector<Tensor> {
    // Backward. The two sums per (n, c) row:
    //   sdy[n,c]   = sum_s dy[n,c,s];   sdyx[n,c] = sum_s dy[n,c,s] * xhat[n,c,s]
    //   dbias[c]   = sum_n sdy[n,c];    dweight[c] = sum_n sdyx[n,c]
    // With the row's own statistics, LayerNorm's backward over the row, where
    // dxhat = dy * weight[c] is a constant multiple of dy on the row:
    //   dx = rstd * weight[c] * (dy - sdy/S - xhat * sdyx/S)
    // With running statistics (eval) mean and rstd are constants:
    //   dx = rstd * weight[c] * dy
    Tensor g = gout.contiguous();
    const float *dy = g.data(), *xp = xc.data(), *mp = mean.data(), *lp = mean_lo.data(), *sp = rstd.data();
    const float* w = wc.defined() ? wc.data() : nullptr;
    std::vector<float> sdy(size_t(N * C)), sdyx(size_t(N * C));
    row_grad_sums(dy, xp, mp, sp, N * C, S, sdy.data(), sdyx.data(), lp);
    Tensor dx, dw, db;
    if (need_w || need_b) {
      dw = zeros({C}), db = zeros({C});
      float *dwp = dw.data(), *dbp = db.data();
      for (int64_t nc = 0; nc < N * C; ++nc) {
        dbp[nc % C] += sdy[size_t(nc)];   // dbias[c]   = sum_n sdy[n,c]
        dwp[nc % C] += sdyx[size_t(nc)];  // dweight[c] = sum_n sdyx[n,c]
      }
      if (!need_w) dw = Tensor();
      if (!need_b) db = Tensor();
    }
    if (need_x) {
      dx = empty(xc.shape());
      float* dxp = dx.data();
#pragma omp parallel for schedule(static) if (xc.numel() > kGrain)
      for (int64_t nc = 0; nc < N * C; ++nc) {
        const float m = mp[nc], s = sp[nc], scale = s * (w ? w[nc % C] : 1.f);
        // mean(dy), mean(dy xhat): the terms the statistics contribute (none in eval)
        // (with xhat's mean_lo part folded into md)
        const float mdx = use_input_stats ? sdyx[size_t(nc)] / float(S) : 0.f;
        const float md = use_input_stats ? sdy[size_t(nc)] / float(S) - lp[nc] * s * mdx : 0.f;
        const float *xr = xp + nc * S, *dyr = dy + nc * S;
        float* dxr = dxp + nc * S;
        // dx = rstd * weight[c] * (dy - mean(dy) - xhat * mean(dy xhat))
        for (int64_t i = 0; i < S; ++i) dxr[i] = scale * (dyr[i] - md - (xr[i] - m) * s * mdx);
      }
    }
    return {dx, dw, db};
  });
}
}  // namespace

InstanceNorm::InstanceNorm(const std::string& type_name, int64_t features, float eps_, std::optional<float> momentum_,
                           bool affine_, bool track)
    : Module(type_name), num_features(features), eps(eps_), momentum(momentum_), affine(affine_),
      track_running_stats(track) {
  NORMA_CHECK(features > 0, type_name, ": num_features must be positive, got ", features);
  if (affine) {
    register_parameter("weight", ones({features}));
    register_parameter("bias", zeros({features}));
  }
  if (track) {
    register_buffer("running_mean", zeros({features}));
    register_buffer("running_var", ones({features}));
    // A float [] tensor; PyTorch's is int64 (and PyTorch 1.13's InstanceNorm never increments it).
    register_buffer("num_batches_tracked", zeros({}));
  }
}

Tensor InstanceNorm::forward(const Tensor& x) {
  check_input(x);
  // Unbatched [C, L] (only InstanceNorm1d's check_input lets 2 dims through): as a batch of 1.
  if (x.dim() == 2) return squeeze(forward(unsqueeze(x, 0)), 0);
  NORMA_CHECK(x.shape()[1] == num_features, type_name(), ": expected input with ", num_features,
              " channels, got ", x.shape());
  Tensor w = affine ? param("weight") : Tensor(), b = affine ? param("bias") : Tensor();
  if (!track_running_stats) return instance_norm(type_name(), x, Tensor(), Tensor(), w, b, true, 0.f, eps);
  float factor = 0.f;
  if (is_training()) {
    // momentum unset: cumulative average, factor 1/num_batches_tracked
    float& count = *buffer("num_batches_tracked").data();
    count += 1.f;
    factor = momentum ? *momentum : 1.f / count;
  }
  return instance_norm(type_name(), x, buffer("running_mean"), buffer("running_var"), w, b, is_training(), factor,
                       eps);
}

std::string InstanceNorm::extra_repr() const {
  std::string m = momentum ? detail::concat(*momentum) : "None";
  return detail::concat(num_features, ", eps=", eps, ", momentum=", m, ", affine=", affine ? "true" : "false",
                        ", track_running_stats=", track_running_stats ? "true" : "false");
}

InstanceNorm1d::InstanceNorm1d(int64_t features, float eps, std::optional<float> momentum, bool affine, bool track)
    : InstanceNorm("InstanceNorm1d", features, eps, momentum, affine, track) {}

void InstanceNorm1d::check_input(const Tensor& x) const {
  NORMA_CHECK(x.dim() == 2 || x.dim() == 3, "InstanceNorm1d: expected input [N, C, L] or [C, L], got ", x.shape());
}

InstanceNorm2d::InstanceNorm2d(int64_t features, float eps, std::optional<float> momentum, bool affine, bool track)
    : InstanceNorm("InstanceNorm2d", features, eps, momentum, affine, track) {}

void InstanceNorm2d::check_input(const Tensor& x) const {
  NORMA_CHECK(x.dim() == 4, "InstanceNorm2d: expected input [N, C, H, W], got ", x.shape());
}

}  // namespace norma::nn
