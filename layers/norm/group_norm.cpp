// GroupNorm, fused. x [N, C, *] is viewed as [N, G, C/G, S] (S = product of the spatial dims):
// the C/G channels of a group are consecutive, so each (n, g) is one contiguous row of
// M = C/G * S elements. With g = c / (C/G):
//
//   mean[n,g]   = 1/M sum_{c in g, s} x[n,c,s]
//   var[n,g]    = 1/M sum_{c in g, s} (x[n,c,s] - mean[n,g])^2      (biased)
//   rstd[n,g]   = 1 / sqrt(var[n,g] + eps)
//   xhat[n,c,s] = (x[n,c,s] - mean[n,g]) * rstd[n,g]
//   y[n,c,s]    = xhat[n,c,s] * weight[c] + bias[c]                (per-channel affine)
//
// The forward saves mean and rstd (N*G floats each); the backward recomputes xhat from x.
#include "layers/norm/group_norm.h"

#include <cmath>
#include <vector>

#include "core/autograd.h"
#include "core/kernels/norm_stats.h"

namespace norma::nn {
namespace {
constexpr int64_t kGrain = 32768;  // elements below which the loops stay on one thread
}

Tensor group_norm(const Tensor& x, int64_t G, const Tensor& weight, const Tensor& bias, float eps) {
  NORMA_CHECK(x.dim() >= 2, "group_norm: expected input [N, C, *], got ", x.shape());
  const int64_t N = x.shape()[0], C = x.shape()[1];
  NORMA_CHECK(G > 0 && C % G == 0, "group_norm: num_channels must be divisible by num_groups, got ", C,
              " channels (input ", x.shape(), ") and num_groups=", G);
  NORMA_CHECK(!weight.defined() || weight.shape() == Shape{C}, "group_norm: weight ", weight.shape(),
              " must be [", C, "] for input ", x.shape());
  NORMA_CHECK(!bias.defined() || bias.shape() == Shape{C}, "group_norm: bias ", bias.shape(), " must be [", C,
              "] for input ", x.shape());
  const int64_t S = N * C > 0 ? x.numel() / (N * C) : 0, Cg = C / G, M = Cg * S;
  NORMA_CHECK(S > 0 || x.numel() == 0, "group_norm: input ", x.shape(), " has no spatial elements");

  Tensor xc = x.detach().contiguous();
  Tensor wc = weight.defined() ? weight.detach().contiguous() : Tensor();
  Tensor bc = bias.defined() ? bias.detach().contiguous() : Tensor();
  // mean = mean_hi + mean_lo (norm_stats.h): x - mean_hi is exact near the mean, so a large
  // common offset loses nothing to the float mean's rounding.
  Tensor out = empty(x.shape()), mean = empty({N * G}), mean_lo = empty({N * G}), rstd = empty({N * G});
  float *mp = mean.data(), *lp = mean_lo.data(), *sp = rstd.data();
  const float* xp = xc.data();
  const float* w = wc.defined() ? wc.data() : nullptr;
  const float* b = bc.defined() ? bc.data() : nullptr;
  float* yp = out.data();
#pragma omp parallel for schedule(static) if (x.numel() > kGrain)
  for (int64_t ng = 0; ng < N * G; ++ng) {
    // The group's statistics, then its Cg channels normalized while the row is in cache.
    float var;
    row_stats(xp + ng * M, M, mp[ng], var, lp[ng]);
    sp[ng] = 1.f / std::sqrt(var + eps);  // rstd = 1 / sqrt(var + eps)
    for (int64_t nc = ng * Cg; nc < (ng + 1) * Cg; ++nc) {  // ng * Cg = n * C + g * Cg
      const int64_t c = nc % C;
      // y = (x - mean) * rstd * weight[c] + bias[c] = (x - mean_hi) * scale + (bias[c] - mean_lo * scale)
      const float m = mp[ng], scale = sp[ng] * (w ? w[c] : 1.f), shift = (b ? b[c] : 0.f) - lp[ng] * scale;
      const float* xr = xp + nc * S;
      float* yr = yp + nc * S;
      for (int64_t s = 0; s < S; ++s) yr[s] = (xr[s] - m) * scale + shift;
    }
  }

  const bool need_x = needs_grad(x), need_w = needs_grad(weight), need_b = needs_grad(bias);
  return record("group_norm", out, {x, weight, bias},
                [xc, wc, mean, mean_lo, rstd, N, C, G, S, need_x, need_w, need_b](const Tensor& gout) -> std::vector<Tensor> {
    // Backward. First the two sums per (n, c), over s, with the group's statistics:
    //   sdy[n,c]    = sum_s dy[n,c,s]
    //   sdyx[n,c]   = sum_s dy[n,c,s] * xhat[n,c,s]
    // then the affine gradients:
    //   dbias[c]    = sum_n sdy[n,c]
    //   dweight[c]  = sum_n sdyx[n,c]
    // and, per (n, g), LayerNorm's backward over the row of M elements with
    // dxhat[n,c,s] = dy[n,c,s] * weight[c]:
    //   mean(dxhat)      = 1/M sum_{c in g} weight[c] * sdy[n,c]
    //   mean(dxhat xhat) = 1/M sum_{c in g} weight[c] * sdyx[n,c]
    //   dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat xhat))
    const int64_t Cg = C / G, M = Cg * S;
    Tensor g = gout.contiguous();
    const float *dy = g.data(), *xp = xc.data(), *mp = mean.data(), *lp = mean_lo.data(), *sp = rstd.data();
    const float* w = wc.defined() ? wc.data() : nullptr;
    std::vector<float> sdy(size_t(N * C)), sdyx(size_t(N * C));
    Tensor dx = need_x ? empty(xc.shape()) : Tensor(), dw, db;
    float* dxp = need_x ? dx.data() : nullptr;
    // One group at a time: its channels' sums, then (with them) its dx while it is in cache.
#pragma omp parallel for schedule(static) if (xc.numel() > kGrain)
    for (int64_t ng = 0; ng < N * G; ++ng) {
      const int64_t nc0 = ng * Cg;  // = n * C + g * Cg
      for (int64_t nc = nc0; nc < nc0 + Cg; ++nc)
        row_grad_sums_one(dy + nc * S, xp + nc * S, S, mp[ng], lp[ng], sp[ng], sdy[size_t(nc)], sdyx[size_t(nc)]);
      if (!dxp) continue;
      // mean(dxhat), mean(dxhat xhat) over the group
      double sum_dxhat = 0.0, sum_dxhat_xhat = 0.0;
      for (int64_t nc = nc0; nc < nc0 + Cg; ++nc) {
        const int64_t c = nc % C;
        sum_dxhat += double(w ? w[c] : 1.f) * sdy[size_t(nc)];
        sum_dxhat_xhat += double(w ? w[c] : 1.f) * sdyx[size_t(nc)];
      }
      const float m = mp[ng], s = sp[ng], mdx = float(sum_dxhat_xhat / double(M));
      const float md = float(sum_dxhat / double(M)) - lp[ng] * s * mdx;
      for (int64_t nc = nc0; nc < nc0 + Cg; ++nc) {
        const float wt = w ? w[nc % C] : 1.f;
        const float *xr = xp + nc * S, *dyr = dy + nc * S;
        float* dxr = dxp + nc * S;
        // dx = rstd * (dy * weight[c] - mean(dxhat) - xhat * mean(dxhat xhat)), xhat's mean_lo part in md
        for (int64_t i = 0; i < S; ++i) dxr[i] = s * (dyr[i] * wt - md - (xr[i] - m) * s * mdx);
      }
    }
    if (need_w || need_b) {
      dw = zeros({C}), db = zeros({C});
      float *dwp = dw.data(), *dbp = db.data();
      for (int64_t nc = 0; nc < N * C; ++nc) {
        dbp[nc % C] += sdy[size_t(nc)];    // dbias[c]   = sum_n sdy[n,c]
        dwp[nc % C] += sdyx[size_t(nc)];   // dweight[c] = sum_n sdyx[n,c]
      }
      if (!need_w) dw = Tensor();
      if (!need_b) db = Tensor();
    }
    return {dx, dw, db};
  });
}

GroupNorm::GroupNorm(int64_t groups, int64_t channels, float eps_, bool affine_)
    : Module("GroupNorm"), num_groups(groups), num_channels(channels), eps(eps_), affine(affine_) {
  NORMA_CHECK(groups > 0 && channels > 0, "GroupNorm: num_groups and num_channels must be positive, got ", groups,
              " and ", channels);
  NORMA_CHECK(channels % groups == 0, "GroupNorm: num_channels must be divisible by num_groups (num_channels=",
              channels, ", num_groups=", groups, ")");
  if (affine) {
    register_parameter("weight", ones({channels}));
    register_parameter("bias", zeros({channels}));
  }
}

Tensor GroupNorm::forward(const Tensor& x) {
  NORMA_CHECK(x.dim() >= 2 && x.shape()[1] == num_channels, "GroupNorm: expected input [N, ", num_channels,
              ", *], got ", x.shape());
  if (!affine) return group_norm(x, num_groups, Tensor(), Tensor(), eps);
  return group_norm(x, num_groups, param("weight"), param("bias"), eps);
}

std::string GroupNorm::extra_repr() const {
  return detail::concat(num_groups, ", ", num_channels, ", eps=", eps, ", affine=", affine ? "true" : "false");
}

}  // namespace norma::nn
