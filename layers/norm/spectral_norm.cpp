// Spectral normalization, as torch.nn.utils.spectral_norm (Miyato et al. 2018), dim 0.
//
// The weight W is viewed as a matrix [out, K], K = in*kh*kw. Power iteration (no grad) keeps
// u [out] and v [K] near W's top singular vectors, updating the buffers in place:
//   v = W^T u / max(||W^T u||, eps),   u = W v / max(||W v||, eps)
// (n_power_iterations steps per forward in training, none in eval). Then, with u and v held
// constant (as PyTorch: it does not differentiate through the iteration),
//   sigma = u^T W v = sum_o u[o] (W v)[o]
//   W_sn  = W / sigma
// The parameter `name` becomes `name_orig`; a pre-forward hook sets the attribute `name` to
// W_sn, computed by the fused op below.
#include "layers/norm/spectral_norm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/autograd.h"

namespace norma::nn {
namespace {
constexpr int64_t kGrain = 32768;  // elements below which loops stay on one thread

// x <- x / max(||x||, eps)   (F.normalize)
void normalize(float* x, int64_t n, float eps) {
  double ss = 0.0;
  for (int64_t i = 0; i < n; ++i) ss += double(x[i]) * x[i];
  const float inv = 1.f / std::max(float(std::sqrt(ss)), eps);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

// y = W x, W [out, K] row-major: one dot product per row, summed in double.
void matvec(const float* W, int64_t out, int64_t K, const float* x, float* y) {
#pragma omp parallel for schedule(static) if (out * K > kGrain)
  for (int64_t o = 0; o < out; ++o) {
    const float* row = W + o * K;
    double acc = 0.0;
#pragma omp simd reduction(+ : acc)
    for (int64_t k = 0; k < K; ++k) acc += double(row[k]) * x[k];
    y[o] = float(acc);
  }
}

// y = W^T x: each thread owns a range of columns k and walks every row over it, so each
// y[k] is summed in row order whatever the thread count (deterministic, no atomics).
void matvec_t(const float* W, int64_t out, int64_t K, const float* x, float* y) {
  constexpr int64_t kCols = 256;  // columns per task: the accumulators stay in L1
  const int64_t tasks = (K + kCols - 1) / kCols;
#pragma omp parallel for schedule(static) if (out * K > kGrain)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t k0 = t * kCols, k1 = std::min(K, k0 + kCols);
    double acc[kCols] = {};
    for (int64_t o = 0; o < out; ++o) {
      const float* row = W + o * K;
      const double xo = x[o];
#pragma omp simd
      for (int64_t k = k0; k < k1; ++k) acc[k - k0] += xo * row[k];
    }
    for (int64_t k = k0; k < k1; ++k) y[k] = float(acc[k - k0]);
  }
}

// `iters` steps of v = normalize(W^T u), u = normalize(W v); W is [out, K] row-major.
void power_iteration(const float* W, int64_t out, int64_t K, float* u, float* v, int64_t iters, float eps) {
  for (int64_t it = 0; it < iters; ++it) {
    matvec_t(W, out, K, u, v);
    normalize(v, K, eps);
    matvec(W, out, K, v, u);
    normalize(u, out, eps);
  }
}

// W_sn = W / sigma, sigma = u^T W v, as one op differentiable in W (u, v constants).
Tensor spectral_norm_op(const Tensor& W_in, const Tensor& u, const Tensor& v) {
  Tensor W = W_in.contiguous();
  const int64_t out = W.size(0), K = W.numel() / out;
  // sigma = sum_o u[o] (W v)[o]
  std::vector<float> Wv(static_cast<size_t>(out));
  matvec(W.data(), out, K, v.data(), Wv.data());
  double s = 0.0;
  for (int64_t o = 0; o < out; ++o) s += double(u.data()[o]) * Wv[size_t(o)];
  const float sigma = float(s);
  Tensor w_sn = empty(W.shape());
  const float* wp = W.data();
  float* op = w_sn.data();
  const int64_t n = W.numel();
  // W_sn = W / sigma
#pragma omp parallel for simd schedule(static) if (n > kGrain)
  for (int64_t i = 0; i < n; ++i) op[i] = wp[i] / sigma;
  // L depends on W through W_sn = W / sigma and sigma = u^T W v, d sigma / dW = u v^T:
  //   dW = dW_sn / sigma - (sum(dW_sn * W) / sigma^2) u v^T
  //      = (dW_sn - c u v^T) / sigma,   c = sum(dW_sn * W) / sigma = sum(dW_sn * W_sn)
  return record("spectral_norm", w_sn, {W_in}, [W, u, v, sigma](const Tensor& g_in) -> std::vector<Tensor> {
    Tensor g = g_in.contiguous();
    const int64_t out = W.size(0), K = W.numel() / out;
    const float *wp = W.data(), *gp = g.data(), *up = u.data(), *vp = v.data();
    // c = sum(dW_sn * W) / sigma: per-row partials, summed in a fixed order (deterministic)
    std::vector<double> row(static_cast<size_t>(out));
#pragma omp parallel for schedule(static) if (W.numel() > kGrain)
    for (int64_t o = 0; o < out; ++o) {
      double acc = 0.0;
#pragma omp simd reduction(+ : acc)
      for (int64_t k = 0; k < K; ++k) acc += double(gp[o * K + k]) * wp[o * K + k];
      row[size_t(o)] = acc;
    }
    double dot = 0.0;
    for (double r : row) dot += r;
    const float c = float(dot / sigma), rsigma = 1.f / sigma;
    Tensor dW = empty(W.shape());
    float* dwp = dW.data();
    // dW[o,k] = (dW_sn[o,k] - c u[o] v[k]) / sigma
#pragma omp parallel for schedule(static) if (W.numel() > kGrain)
    for (int64_t o = 0; o < out; ++o) {
      const float cu = c * up[o];
#pragma omp simd
      for (int64_t k = 0; k < K; ++k) dwp[o * K + k] = (gp[o * K + k] - cu * vp[k]) * rsigma;
    }
    return {dW};
  });
}
}  // namespace

std::shared_ptr<Module> spectral_norm(std::shared_ptr<Module> module, const std::string& name,
                                      int64_t n_power_iterations, float eps) {
  NORMA_CHECK(module != nullptr, "spectral_norm: module is null");
  const std::string& type = module->type_name();
  NORMA_CHECK(!module->has_param(name + "_orig"), "spectral_norm: ", type, " already has spectral_norm on '", name,
              "'");
  NORMA_CHECK(module->has_param(name), "spectral_norm: ", type, " has no parameter '", name, "'");
  NORMA_CHECK(n_power_iterations >= 0, "spectral_norm: n_power_iterations must be >= 0, got ", n_power_iterations);
  NORMA_CHECK(eps > 0.f, "spectral_norm: eps must be positive, got ", eps);
  const Tensor& weight = module->param(name);
  NORMA_CHECK(weight.dim() >= 1 && weight.numel() > 0, "spectral_norm: '", name, "' of ", type, " has shape ",
              weight.shape(), ", expected [out, ...] with no empty dim");
  const int64_t out = weight.size(0), K = weight.numel() / out;
  // As PyTorch: u, v drawn from N(0, 1) (u first), then normalized.
  Tensor u = randn({out}), v = randn({K});
  normalize(u.data(), out, eps);
  normalize(v.data(), K, eps);
  Tensor W = module->remove_parameter(name);
  module->register_parameter(name + "_orig", W, W.requires_grad());
  // PyTorch leaves the raw weight as the attribute until the first forward computes W_sn.
  module->set_attribute(name, W.detach());
  module->register_buffer(name + "_u", u);
  module->register_buffer(name + "_v", v);
  module->register_forward_pre_hook([name, n_power_iterations, eps](Module& m) {
    Tensor W = m.param(name + "_orig");
    Tensor u = m.buffer(name + "_u"), v = m.buffer(name + "_v");
    const int64_t out = W.size(0), K = W.numel() / out;
    NORMA_CHECK(u.numel() == out && v.numel() == K && u.is_contiguous() && v.is_contiguous(), "spectral_norm: ",
                m.type_name(), " buffers '", name, "_u' ", u.shape(), " and '", name, "_v' ", v.shape(),
                " do not match '", name, "_orig' ", W.shape());
    if (m.is_training() && n_power_iterations > 0) {
      NoGradGuard no_grad;
      Tensor Wc = W.contiguous();
      power_iteration(Wc.data(), out, K, u.data(), v.data(), n_power_iterations, eps);
    }
    // Copies of u and v: the next forward updates the buffers in place, possibly before this
    // one's backward runs (a GAN discriminator on real, then fake data).
    m.set_attribute(name, spectral_norm_op(W, u.detach().clone(), v.detach().clone()));
  });
  return module;
}

}  // namespace norma::nn
