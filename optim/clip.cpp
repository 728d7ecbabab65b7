// clip_grad_norm_, following torch.nn.utils.clip_grad_norm_ (PyTorch 1.13).
#include "optim/clip.h"

#include <algorithm>
#include <cmath>

#include "core/autograd.h"
#include "optim/optimizer.h"

namespace norma::optim {

namespace {
// norm_p(x) = (sum |x|^p)^(1/p), max |x| for p = inf. Accumulated in double over fixed chunks
// whose partials are added in order: the same result for any thread count.
double norm_of(const Tensor& t, double p) {
  const float* x = t.data();
  const int64_t n = t.numel(), chunk = 4096, chunks = (n + chunk - 1) / chunk;
  std::vector<double> partial(chunks);
#pragma omp parallel for if (n > kParallelUpdate) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    double acc = 0;
    for (int64_t i = c * chunk; i < std::min(n, (c + 1) * chunk); ++i) {
      double a = std::fabs(double(x[i]));
      if (std::isinf(p)) acc = a > acc || std::isnan(a) ? a : acc;  // a NaN stays, as in torch.max
      else acc += p == 2 ? a * a : p == 1 ? a : std::pow(a, p);
    }
    partial[c] = acc;
  }
  double total = 0;
  for (double v : partial) total = !std::isinf(p) ? total + v : v > total || std::isnan(v) ? v : total;
  return std::isinf(p) ? total : p == 2 ? std::sqrt(total) : p == 1 ? total : std::pow(total, 1 / p);
}
}  // namespace

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type) {
  NORMA_CHECK(norm_type > 0, "clip_grad_norm_: norm_type must be > 0 or inf, got ", norm_type);
  NORMA_CHECK(max_norm >= 0, "clip_grad_norm_: max_norm must be >= 0, got ", max_norm);
  std::vector<Tensor> grads;
  for (const Tensor& p : params)
    if (p.defined() && p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return 0;
  // total = norm([norm(g) for g in grads]), each norm rounded to float as torch.norm's are
  std::vector<float> norms;
  for (const Tensor& g : grads) norms.push_back(float(norm_of(g.contiguous(), norm_type)));
  const double total = float(norm_of(from_vector(norms, {int64_t(norms.size())}), norm_type));
  // coef = max_norm / (total + 1e-6), applied when < 1 (NaN also falls through, as in PyTorch)
  const float coef = float(max_norm / (total + 1e-6));
  if (!(coef < 1.f) && !std::isnan(coef)) return total;
  NoGradGuard no_grad;
  for (Tensor& g : grads) {
    NORMA_CHECK(g.is_contiguous(), "clip_grad_norm_: gradient of shape ", g.shape(), " is not contiguous");
    float* x = g.data();
    const int64_t n = g.numel();
#pragma omp parallel for if (n > kParallelUpdate) schedule(static)
    for (int64_t i = 0; i < n; ++i) x[i] *= coef;
  }
  return total;
}

}  // namespace norma::optim
