// LayerNorm, fused. x is viewed as [R, D]: D = prod(normalized_shape) trailing elements per
// row, R rows (every leading index). Per row r and column j:
//
//   mean[r]   = 1/D sum_j x[r,j]
//   var[r]    = 1/D sum_j (x[r,j] - mean[r])^2            (biased, as PyTorch)
//   rstd[r]   = 1 / sqrt(var[r] + eps)
//   xhat[r,j] = (x[r,j] - mean[r]) * rstd[r]
//   y[r,j]    = xhat[r,j] * weight[j] + bias[j]            (weight 1, bias 0 when undefined)
//
// The forward saves mean and rstd (R floats each); the backward recomputes xhat from x.
#include "layers/norm/layer_norm.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/autograd.h"
#include "core/kernels/norm_stats.h"

namespace norma::nn {
namespace {
constexpr int64_t kGrain = 32768;  // elements below which the loops stay on one thread

Tensor detached_contiguous(const Tensor& t) { return t.defined() ? t.detach().contiguous() : Tensor(); }
}  // namespace

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  float eps) {
  const int64_t k = int64_t(normalized_shape.size());
  NORMA_CHECK(k >= 1, "layer_norm: normalized_shape must have at least one dim, got ", normalized_shape);
  NORMA_CHECK(x.dim() >= k && Shape(x.shape().end() - k, x.shape().end()) == normalized_shape,
              "layer_norm: expected input with trailing dims ", normalized_shape, " (normalized_shape), got input ",
              x.shape());
  NORMA_CHECK(!weight.defined() || weight.shape() == normalized_shape, "layer_norm: weight ", weight.shape(),
              " must have normalized_shape ", normalized_shape);
  NORMA_CHECK(!bias.defined() || bias.shape() == normalized_shape, "layer_norm: bias ", bias.shape(),
              " must have normalized_shape ", normalized_shape);
  const int64_t D = shape_numel(normalized_shape);
  NORMA_CHECK(D > 0, "layer_norm: normalized_shape ", normalized_shape, " has no elements");
  const int64_t R = x.numel() / D;

  Tensor xc = x.detach().contiguous(), wc = detached_contiguous(weight), bc = detached_contiguous(bias);
  // mean = mean_hi + mean_lo (norm_stats.h): x - mean_hi is exact near the mean, so a large
  // common offset loses nothing to the float mean's rounding.
  Tensor out = empty(x.shape()), mean = empty({R}), mean_lo = empty({R}), rstd = empty({R});
  const float* xp = xc.data();
  const float* w = wc.defined() ? wc.data() : nullptr;
  const float* b = bc.defined() ? bc.data() : nullptr;
  float *yp = out.data(), *mp = mean.data(), *lp = mean_lo.data(), *sp = rstd.data();
#pragma omp parallel for schedule(static) if (R * D > kGrain)
  for (int64_t r = 0; r < R; ++r) {
    // The row's statistics, then the row normalized while it is still in cache.
    const float* xr = xp + r * D;
    float var;
    row_stats(xr, D, mp[r], var, lp[r]);
    // rstd = 1 / sqrt(var + eps)
    const float m = mp[r], lo = lp[r], s = 1.f / std::sqrt(var + eps);
    sp[r] = s;
    float* yr = yp + r * D;
    // y = (x - mean) * rstd * weight + bias, with x - mean = (x - mean_hi) - mean_lo
    for (int64_t j = 0; j < D; ++j) yr[j] = ((xr[j] - m) - lo) * s * (w ? w[j] : 1.f) + (b ? b[j] : 0.f);
  }

  const bool need_x = needs_grad(x), need_w = needs_grad(weight), need_b = needs_grad(bias);
  return record("layer_norm", out, {x, weight, bias},
                [xc, wc, mean, mean_lo, rstd, R, D, need_x, need_w, need_b, ws = normalized_shape](
                    const Tensor& gout) -> std::vector<Tensor> {
    // Backward. With dxhat[r,j] = dy[r,j] * weight[j]:
    //   dbias[j]   = sum_r dy[r,j]
    //   dweight[j] = sum_r dy[r,j] * xhat[r,j]
    // For one row, xhat_j = (x_j - mean) * rstd with d mean/d x_i = 1/D and
    // d rstd/d x_i = -rstd^3 (x_i - mean) / D = -rstd^2 xhat_i / D, so
    //   d xhat_j / d x_i = rstd * (delta_ij - 1/D - xhat_i xhat_j / D)
    // and summing dxhat_j times that over j:
    //   dx_i = rstd * (dxhat_i - mean_j(dxhat_j) - xhat_i * mean_j(dxhat_j xhat_j))
    Tensor g = gout.contiguous();
    const float *dy = g.data(), *xp = xc.data(), *mp = mean.data(), *lp = mean_lo.data(), *sp = rstd.data();
    const float* w = wc.defined() ? wc.data() : nullptr;
    Tensor dx = need_x ? empty(xc.shape()) : Tensor(), dw, db;
    float* dxp = need_x ? dx.data() : nullptr;
    const bool need_wb = need_w || need_b;
    // One sweep over the rows: each row's dx, and its terms of the column sums of dweight and
    // dbias into this thread's partial sums while the row is in cache. The partials are added
    // in thread order: the same bits on every run with the same thread count.
    const int threads = R * D > kGrain ? omp_get_max_threads() : 1;
    std::vector<double> part(need_wb ? size_t(threads) * 2 * size_t(D) : 0, 0.0);  // per thread: [sum dy | sum dy*xhat]
#pragma omp parallel num_threads(threads)
    {
      double* sdy = need_wb ? part.data() + size_t(omp_get_thread_num()) * 2 * size_t(D) : nullptr;
      double* sdy_xhat = need_wb ? sdy + D : nullptr;
#pragma omp for schedule(static)
      for (int64_t r = 0; r < R; ++r) {
        const float m = mp[r], lo = lp[r], s = sp[r];
        const float *xr = xp + r * D, *dyr = dy + r * D;
        if (dxp) {
          float* dxr = dxp + r * D;
          // mean_j(dxhat), mean_j(dxhat * xhat)
          double sum_dxhat = 0.0, sum_dxhat_xhat = 0.0;
#pragma omp simd reduction(+ : sum_dxhat, sum_dxhat_xhat)  // vector lanes, as row_stats's sums
          for (int64_t j = 0; j < D; ++j) {
            const float dxhat = dyr[j] * (w ? w[j] : 1.f);
            sum_dxhat += dxhat;
            sum_dxhat_xhat += dxhat * ((xr[j] - m) - lo) * s;
          }
          const float mean_dxhat = float(sum_dxhat / double(D)), mean_dxhat_xhat = float(sum_dxhat_xhat / double(D));
          // dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat xhat))
          for (int64_t j = 0; j < D; ++j)
            dxr[j] = s * (dyr[j] * (w ? w[j] : 1.f) - mean_dxhat - ((xr[j] - m) - lo) * s * mean_dxhat_xhat);
        }
        if (sdy) {
#pragma omp simd
          for (int64_t j = 0; j < D; ++j) {
            sdy[j] += dyr[j];                                 // dbias   += dy
            sdy_xhat[j] += dyr[j] * ((xr[j] - m) - lo) * s;  // dweight += dy * xhat
          }
        }
      }
    }
    if (need_wb) {
      Tensor dw_all = empty(ws), db_all = empty(ws);
      float *dwp = dw_all.data(), *dbp = db_all.data();
      for (int64_t j = 0; j < D; ++j) {
        double b_sum = 0.0, w_sum = 0.0;
        for (int t = 0; t < threads; ++t) {
          b_sum += part[size_t(t) * 2 * size_t(D) + size_t(j)];
          w_sum += part[size_t(t) * 2 * size_t(D) + size_t(D + j)];
        }
        dbp[j] = float(b_sum), dwp[j] = float(w_sum);
      }
      if (need_w) dw = dw_all;
      if (need_b) db = db_all;
    }
    return {dx, dw, db};
  });
}

LayerNorm::LayerNorm(Shape shape, float eps_, bool affine)
    : Module("LayerNorm"), normalized_shape(std::move(shape)), eps(eps_), elementwise_affine(affine) {
  NORMA_CHECK(!normalized_shape.empty() && shape_numel(normalized_shape) > 0,
              "LayerNorm: normalized_shape must be non-empty with positive sizes, got ", normalized_shape);
  if (affine) {
    register_parameter("weight", ones(normalized_shape));
    register_parameter("bias", zeros(normalized_shape));
  }
}

Tensor LayerNorm::forward(const Tensor& x) {
  if (!elementwise_affine) return layer_norm(x, normalized_shape, Tensor(), Tensor(), eps);
  return layer_norm(x, normalized_shape, param("weight"), param("bias"), eps);
}

std::string LayerNorm::extra_repr() const {
  // normalized_shape as a Python tuple: "(4, 5)", "(8,)"
  std::string dims;
  for (int64_t d : normalized_shape) dims += (dims.empty() ? "" : ", ") + std::to_string(d);
  if (normalized_shape.size() == 1) dims += ",";
  return detail::concat("(", dims, "), eps=", eps, ", elementwise_affine=", elementwise_affine ? "true" : "false");
}

}  // namespace norma::nn
