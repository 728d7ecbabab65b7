// RMSNorm, fused. x is viewed as [R, D]: D = prod(normalized_shape) trailing elements per row.
// Per row r and column j (no mean subtracted, no bias):
//
//   ms[r]     = 1/D sum_j x[r,j]^2
//   rrms[r]   = 1 / sqrt(ms[r] + eps)
//   xhat[r,j] = x[r,j] * rrms[r]
//   y[r,j]    = xhat[r,j] * weight[j]                      (weight 1 when undefined)
//
// The forward saves rrms (R floats); the backward recomputes xhat from x.
#include "layers/norm/rms_norm.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/autograd.h"

namespace norma::nn {
namespace {
constexpr int64_t kGrain = 32768;  // elements below which the loops stay on one thread
}  // namespace

Tensor rms_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, float eps) {
  const int64_t k = int64_t(normalized_shape.size());
  NORMA_CHECK(k >= 1, "rms_norm: normalized_shape must have at least one dim, got ", normalized_shape);
  NORMA_CHECK(x.dim() >= k && Shape(x.shape().end() - k, x.shape().end()) == normalized_shape,
              "rms_norm: expected input with trailing dims ", normalized_shape, " (normalized_shape), got input ",
              x.shape());
  NORMA_CHECK(!weight.defined() || weight.shape() == normalized_shape, "rms_norm: weight ", weight.shape(),
              " must have normalized_shape ", normalized_shape);
  const int64_t D = shape_numel(normalized_shape);
  NORMA_CHECK(D > 0, "rms_norm: normalized_shape ", normalized_shape, " has no elements");
  const int64_t R = x.numel() / D;

  Tensor xc = x.detach().contiguous(), wc = weight.defined() ? weight.detach().contiguous() : Tensor();
  Tensor out = empty(x.shape()), rrms = empty({R});
  const float* xp = xc.data();
  const float* w = wc.defined() ? wc.data() : nullptr;
  float *yp = out.data(), *rp = rrms.data();
#pragma omp parallel for schedule(static) if (R * D > kGrain)
  for (int64_t r = 0; r < R; ++r) {
    const float* xr = xp + r * D;
    float* yr = yp + r * D;
    // ms = 1/D sum_j x_j^2  (in double)
    // (omp simd: lets the compiler reorder the sum into vector lanes, which it may not do for
    // floating point on its own; the order stays fixed for a given build.)
    double ss = 0.0;
#pragma omp simd reduction(+ : ss)
    for (int64_t j = 0; j < D; ++j) ss += double(xr[j]) * double(xr[j]);
    // rrms = 1 / sqrt(ms + eps)
    const float s = float(1.0 / std::sqrt(ss / double(D) + double(eps)));
    rp[r] = s;
    // y = x * rrms * weight
    for (int64_t j = 0; j < D; ++j) yr[j] = xr[j] * s * (w ? w[j] : 1.f);
  }

  const bool need_x = needs_grad(x), need_w = needs_grad(weight);
  return record("rms_norm", out, {x, weight},
                [xc, wc, rrms, R, D, need_x, need_w, ws = normalized_shape](const Tensor& gout) -> std::vector<Tensor> {
    // Backward. With dxhat[r,j] = dy[r,j] * weight[j]:
    //   dweight[j] = sum_r dy[r,j] * xhat[r,j]
    // For one row, d rrms/d x_i = -1/2 (ms + eps)^(-3/2) * 2 x_i / D = -rrms^3 x_i / D, so
    //   dx_i = rrms dxhat_i + sum_j dxhat_j x_j (-rrms^3 x_i / D)
    //        = rrms * (dxhat_i - xhat_i * mean_j(dxhat_j xhat_j))
    Tensor g = gout.contiguous();
    const float *dy = g.data(), *xp = xc.data(), *rp = rrms.data();
    const float* w = wc.defined() ? wc.data() : nullptr;
    Tensor dx = need_x ? empty(xc.shape()) : Tensor(), dw;
    float* dxp = need_x ? dx.data() : nullptr;
    // One sweep over the rows: each row's dx, and its terms of the column sums of dweight into
    // this thread's partial sums while the row is in cache (as LayerNorm's backward). The
    // partials are added in thread order: the same bits on every run with the same threads.
    const int threads = R * D > kGrain ? omp_get_max_threads() : 1;
    std::vector<double> part(need_w ? size_t(threads) * size_t(D) : 0, 0.0);
#pragma omp parallel num_threads(threads)
    {
      double* sdy_xhat = need_w ? part.data() + size_t(omp_get_thread_num()) * size_t(D) : nullptr;
#pragma omp for schedule(static)
      for (int64_t r = 0; r < R; ++r) {
        const float s = rp[r];
        const float *xr = xp + r * D, *dyr = dy + r * D;
        if (dxp) {
          float* dxr = dxp + r * D;
          // mean_j(dxhat xhat)
          double sum_dxhat_xhat = 0.0;
#pragma omp simd reduction(+ : sum_dxhat_xhat)
          for (int64_t j = 0; j < D; ++j) sum_dxhat_xhat += dyr[j] * (w ? w[j] : 1.f) * xr[j] * s;
          const float mean_dxhat_xhat = float(sum_dxhat_xhat / double(D));
          // dx = rrms * (dxhat - xhat * mean(dxhat xhat))
          for (int64_t j = 0; j < D; ++j) dxr[j] = s * (dyr[j] * (w ? w[j] : 1.f) - xr[j] * s * mean_dxhat_xhat);
        }
        if (sdy_xhat) {
#pragma omp simd
          for (int64_t j = 0; j < D; ++j) sdy_xhat[j] += dyr[j] * xr[j] * s;  // dweight += dy * xhat
        }
      }
    }
    if (need_w) {
      dw = empty(ws);
      float* dwp = dw.data();
      for (int64_t j = 0; j < D; ++j) {
        double acc = 0.0;
        for (int t = 0; t < threads; ++t) acc += part[size_t(t) * size_t(D) + size_t(j)];
        dwp[j] = float(acc);
      }
    }
    return {dx, dw};
  });
}

RMSNorm::RMSNorm(Shape shape, std::optional<float> eps_, bool affine)
    : Module("RMSNorm"), normalized_shape(std::move(shape)), eps(eps_), elementwise_affine(affine) {
  NORMA_CHECK(!normalized_shape.empty() && shape_numel(normalized_shape) > 0,
              "RMSNorm: normalized_shape must be non-empty with positive sizes, got ", normalized_shape);
  if (affine) register_parameter("weight", ones(normalized_shape));
}

// eps unset: float32's machine epsilon (2^-23), what PyTorch uses for eps=None on float32.
Tensor RMSNorm::forward(const Tensor& x) {
  const float e = eps.value_or(std::numeric_limits<float>::epsilon());
  return rms_norm(x, normalized_shape, elementwise_affine ? param("weight") : Tensor(), e);
}

std::string RMSNorm::extra_repr() const {
  // normalized_shape as a Python tuple: "(4, 5)", "(8,)"
  std::string dims;
  for (int64_t d : normalized_shape) dims += (dims.empty() ? "" : ", ") + std::to_string(d);
  if (normalized_shape.size() == 1) dims += ",";
  std::string e = eps ? detail::concat(*eps) : "None";
  return "(" + dims + "), eps=" + e + ", elementwise_affine=" + (elementwise_affine ? "true" : "false");
}

}  // namespace norma::nn
