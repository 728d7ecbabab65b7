// Weight normalization, as torch.nn.utils.weight_norm (Salimans & Kingma 2016).
//
// The weight v is viewed as [outer, D, inner] around the kept dim `dim` (dim 0 of a Linear or
// Conv2d weight: outer = 1, D = out, inner = in*kh*kw); each slice d has its own norm and scale:
//   norm[d]   = sqrt(sum_{o,i} v[o,d,i]^2)
//   w[o,d,i]  = g[d] * v[o,d,i] / norm[d]
// dim = -1 is PyTorch's dim=None: one norm over the whole tensor (D = 1, g of shape []).
//
// The module's parameter `name` is replaced by `name_g` (g, shaped like v with 1 everywhere
// but `dim`) and `name_v` (v, the old weight); a pre-forward hook recomputes the attribute
// `name` with the fused op below, so the layer's own forward reads it as before and the
// gradient reaches g and v.
#include "layers/norm/weight_norm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/autograd.h"
#include "core/kernels/norm_stats.h"
#include "layers/linear.h"

namespace norma::nn {
namespace {
constexpr int64_t kGrain = 32768;  // elements below which loops stay on one thread

struct Slices {
  int64_t outer, D, inner;
};

Slices slices_of(const Shape& s, int64_t dim) {
  const int64_t n = shape_numel(s);
  if (dim < 0) return {1, 1, n};
  int64_t outer = 1;
  for (int64_t k = 0; k < dim; ++k) outer *= s[size_t(k)];
  const int64_t D = s[size_t(dim)];
  return {outer, D, D ? n / (outer * D) : 0};
}

// g's shape: v's size at `dim`, 1 elsewhere ([out, 1] for Linear, [out, 1, 1, 1] for Conv2d);
// [] for dim = -1.
Shape g_shape(const Shape& v, int64_t dim) {
  if (dim < 0) return {};
  Shape s(v.size(), 1);
  s[size_t(dim)] = v[size_t(dim)];
  return s;
}

// ||v|| per slice: PyTorch's norm_except_dim(v, 2, dim). Sums in double.
void slice_norms(const float* v, Slices s, float* norm) {
#pragma omp parallel for schedule(static) if (s.outer * s.D * s.inner > kGrain)
  for (int64_t d = 0; d < s.D; ++d) {
    double ss = 0.0;
    for (int64_t o = 0; o < s.outer; ++o) {
      const float* p = v + (o * s.D + d) * s.inner;
#pragma omp simd reduction(+ : ss)
      for (int64_t i = 0; i < s.inner; ++i) ss += double(p[i]) * p[i];
    }
    norm[d] = float(std::sqrt(ss));
  }
}

// The kept dim of a weight-normed pair, read off g's shape: the axis where g has v's size
// (> 1); -1 (whole tensor) for a 0-d g. When every size is 1 any axis where v is 1 too gives
// the same slices, so this recovers weight_norm()'s slicing whatever `dim` it was given.
int64_t kept_dim(const Tensor& v, const Tensor& g) {
  if (g.dim() == 0) return -1;
  for (int64_t k = 0; k < g.dim(); ++k)
    if (g.size(k) > 1) return k;
  for (int64_t k = 0; k < g.dim(); ++k)
    if (v.size(k) == 1) return k;
  return 0;
}

// w = g * v / ||v||, one fused op (forward loop, hand-written backward).
Tensor weight_norm_op(const Tensor& v_in, const Tensor& g_in, int64_t dim) {
  NORMA_CHECK(g_in.shape() == g_shape(v_in.shape(), dim), "weight_norm: expected g of shape ",
              g_shape(v_in.shape(), dim), " for v of shape ", v_in.shape(), " and dim ", dim, ", got ", g_in.shape());
  Tensor v = v_in.contiguous(), g = g_in.contiguous();
  const Slices s = slices_of(v.shape(), dim);
  Tensor w = empty(v.shape()), rnorm = empty({s.D});
  const float* vp = v.data();
  const float* gp = g.data();
  float* wp = w.data();
  float* rn = rnorm.data();
  slice_norms(vp, s, rn);
  // w[o,d,i] = g[d] * v[o,d,i] * rnorm[d],  rnorm = 1 / norm (kept for the backward; a zero
  // slice gives inf/nan, as in PyTorch)
#pragma omp parallel for schedule(static) if (v.numel() > kGrain)
  for (int64_t d = 0; d < s.D; ++d) {
    rn[d] = 1.f / rn[d];
    const float scale = gp[d] * rn[d];
    for (int64_t o = 0; o < s.outer; ++o) {
      const int64_t base = (o * s.D + d) * s.inner;
#pragma omp simd
      for (int64_t i = 0; i < s.inner; ++i) wp[base + i] = scale * vp[base + i];
    }
  }
  // w = g v / n with n = ||v||, dn/dv = v / n, so for one slice (sums over its elements):
  //   dL/dg = sum(dw * v) / n
  //   dL/dv = g/n * dw + sum_j dw_j * g * v_j * d(1/n)/dv = g/n * dw - g/n^3 * sum(dw * v) * v
  //         = g/n * (dw - (sum(dw * v) / n^2) * v)
  const bool want_v = needs_grad(v_in), want_g = needs_grad(g_in);
  return record("weight_norm", w, {v_in, g_in}, [v, g, rnorm, s, want_v, want_g](const Tensor& dw_in) {
    Tensor dw = dw_in.contiguous();
    Tensor dv = want_v ? empty(v.shape()) : Tensor(), dg = want_g ? empty(g.shape()) : Tensor();
    const float *vp = v.data(), *gp = g.data(), *dwp = dw.data(), *rn = rnorm.data();
    float* dvp = want_v ? dv.data() : nullptr;
    float* dgp = want_g ? dg.data() : nullptr;
#pragma omp parallel for schedule(static) if (v.numel() > kGrain)
    for (int64_t d = 0; d < s.D; ++d) {
      // dot = sum_{o,i} dw * v
      double dot = 0.0;
      for (int64_t o = 0; o < s.outer; ++o) {
        const int64_t base = (o * s.D + d) * s.inner;
#pragma omp simd reduction(+ : dot)
        for (int64_t i = 0; i < s.inner; ++i) dot += double(dwp[base + i]) * vp[base + i];
      }
      // dg = dot / n
      if (dgp) dgp[d] = float(dot * rn[d]);
      if (!dvp) continue;
      // dv = g/n * (dw - (dot / n^2) * v)
      const float a = gp[d] * rn[d], b = float(dot * rn[d] * rn[d]);
      for (int64_t o = 0; o < s.outer; ++o) {
        const int64_t base = (o * s.D + d) * s.inner;
#pragma omp simd
        for (int64_t i = 0; i < s.inner; ++i) dvp[base + i] = a * (dwp[base + i] - b * vp[base + i]);
      }
    }
    return std::vector<Tensor>{dv, dg};
  });
}
}  // namespace

std::shared_ptr<Module> weight_norm(std::shared_ptr<Module> module, const std::string& name, int64_t dim) {
  NORMA_CHECK(module != nullptr, "weight_norm: module is null");
  const std::string& type = module->type_name();
  NORMA_CHECK(!module->has_param(name + "_g") && !module->has_param(name + "_v"), "weight_norm: ", type,
              " already has weight_norm on '", name, "'");
  NORMA_CHECK(module->has_param(name), "weight_norm: ", type, " has no parameter '", name, "'");
  const Tensor& weight = module->param(name);
  NORMA_CHECK(weight.dim() >= 1 && dim >= -1 && dim < weight.dim(), "weight_norm: dim ", dim,
              " out of range for '", name, "' of shape ", weight.shape(), " (0..", weight.dim() - 1,
              ", or -1 for the whole tensor)");
  // As PyTorch: g = ||v|| (so w is unchanged), v = the old weight; both require grad.
  Tensor v = module->remove_parameter(name);
  Tensor g = empty(g_shape(v.shape(), dim));
  Tensor vc = v.detach().contiguous();
  slice_norms(vc.data(), slices_of(vc.shape(), dim), g.data());
  module->register_parameter(name + "_g", g);
  module->register_parameter(name + "_v", v);
  module->set_attribute(name, weight_norm_op(v, g, dim));
  module->register_forward_pre_hook([name, dim](Module& m) {
    m.set_attribute(name, weight_norm_op(m.param(name + "_v"), m.param(name + "_g"), dim));
  });
  return module;
}

// Salimans & Kingma Sec. 3.1. With g = 1 and b = 0 the module computes t = (v . x) / ||v||
// per output unit; with mu, sigma its mean and standard deviation (biased) over the batch and
// spatial positions, g = 1 / sigma and b = -mu / sigma make y = g t + b = (t - mu) / sigma
// have mean 0 and variance 1 on the batch. (Equivalent to the header's g <- g/sigma_y,
// b <- -mu_y/sigma_y measured with the current g and b = 0.) Without a bias only g is set.
void weight_norm_data_init(Module& module, const Tensor& batch, const std::string& name) {
  const std::string& type = module.type_name();
  NORMA_CHECK(module.has_param(name + "_g") && module.has_param(name + "_v"), "weight_norm_data_init: ", type,
              " has no weight_norm on '", name, "' (call weight_norm first)");
  NoGradGuard no_grad;
  Tensor g = module.param(name + "_g"), v = module.param(name + "_v");
  const int64_t C = v.size(0);
  NORMA_CHECK(g.dim() == v.dim() && g.size(0) == C && g.numel() == C, "weight_norm_data_init: ",
              type, " needs weight_norm with dim=0 (one g per output unit), got g of shape ", g.shape(),
              " for '", name, "_v' of shape ", v.shape());
  Tensor bias = module.has_param("bias") ? module.param("bias") : Tensor();
  NORMA_CHECK(!bias.defined() || bias.numel() == C, "weight_norm_data_init: ", type, " bias of shape ", bias.shape(),
              " does not match ", C, " output units");
  g.fill_(1.f);
  if (bias.defined()) bias.fill_(0.f);
  Tensor t = module(batch).contiguous();
  // The output units' axis: last for Linear ([..., out]), 1 otherwise ([N, out, H, W]).
  const int64_t axis = t.dim() == 2 ? 1 : dynamic_cast<Linear*>(&module) ? t.dim() - 1 : 1;
  NORMA_CHECK(t.dim() >= 2 && t.size(axis) == C, "weight_norm_data_init: expected ", type, " output with ", C,
              " units on dim ", axis, ", got ", t.shape());
  int64_t outer = 1, inner = 1;
  for (int64_t k = 0; k < axis; ++k) outer *= t.size(k);
  for (int64_t k = axis + 1; k < t.dim(); ++k) inner *= t.size(k);
  std::vector<float> mean(static_cast<size_t>(C)), var(static_cast<size_t>(C));
  channel_mean_var(t.data(), outer, C, inner, mean.data(), var.data());
  float* gp = g.data();
  float* bp = bias.defined() ? bias.data() : nullptr;
  for (int64_t c = 0; c < C; ++c) {
    // sigma floored so that a unit dead on this batch gets a large finite g, not inf
    const float sigma = std::sqrt(std::max(var[size_t(c)], 1e-12f));
    gp[c] = 1.f / sigma;
    if (bp) bp[c] = -mean[size_t(c)] / sigma;
  }
  // Keep the attribute consistent with the new g until the next forward recomputes it.
  module.set_attribute(name, weight_norm_op(v, g, kept_dim(v, g)));
}

}  // namespace norma::nn
