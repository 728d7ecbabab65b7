// gradcheck: compares autograd's gradients with central finite differences.
//
// For f(inputs) -> Tensor, the scalar probed is L = sum(f(inputs) * R) with a fixed random R,
// so every output element matters. For each input element x_i:
//   numeric_i  = (L(x_i + eps) - L(x_i - eps)) / (2 eps)      (L summed in double)
//   analytic_i = dL/dx_i from backward()
// and the check passes when |analytic - numeric| <= atol + rtol * |numeric| everywhere.
// The worst absolute and relative errors are reported either way.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "core/norma.h"

namespace norma::testing {

struct GradcheckResult {
  bool ok = true;
  double max_abs_err = 0, max_rel_err = 0;
  std::string worst;  // where the worst error was, for the failure message
};

struct GradcheckOptions {
  float eps = 1e-3f;
  double atol = 1e-2, rtol = 1e-2;
};

inline double probe(const Tensor& out, const Tensor& r) {
  std::vector<float> o = out.to_vector(), w = r.to_vector();
  double s = 0;
  for (size_t i = 0; i < o.size(); ++i) s += double(o[i]) * double(w[i]);
  return s;
}

// `inputs` are leaves; those with requires_grad() are checked. Their values are restored.
inline GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                                 std::vector<Tensor> inputs, GradcheckOptions opt = {}) {
  GradcheckResult res;
  for (Tensor& t : inputs) t.zero_grad();
  Tensor out = f(inputs);
  Generator gen(1234);
  Tensor r = randn(out.shape(), &gen);
  (out * r).sum().backward();
  for (size_t k = 0; k < inputs.size(); ++k) {
    Tensor& x = inputs[k];
    if (!x.requires_grad()) continue;
    Tensor grad = x.grad();
    std::vector<float> analytic = grad.defined() ? grad.to_vector() : std::vector<float>(size_t(x.numel()), 0.f);
    REQUIRE_MESSAGE(x.is_contiguous(), "gradcheck inputs must be contiguous");
    float* p = x.data();
    for (int64_t i = 0; i < x.numel(); ++i) {
      float orig = p[i];
      double lp, lm;
      {
        NoGradGuard ng;
        p[i] = orig + opt.eps;
        lp = probe(f(inputs), r);
        p[i] = orig - opt.eps;
        lm = probe(f(inputs), r);
        p[i] = orig;
      }
      double numeric = (lp - lm) / (2.0 * double(opt.eps));
      double a = analytic[size_t(i)];
      double abs_err = std::fabs(a - numeric);
      double rel_err = abs_err / std::max(1e-8, std::fabs(numeric));
      if (abs_err > res.max_abs_err) {
        res.max_abs_err = abs_err;
        res.worst = "input " + std::to_string(k) + " element " + std::to_string(i) + ": analytic " +
                    std::to_string(a) + " vs numeric " + std::to_string(numeric);
      }
      if (abs_err > opt.atol) res.max_rel_err = std::max(res.max_rel_err, rel_err);
      if (abs_err > opt.atol + opt.rtol * std::fabs(numeric)) res.ok = false;
    }
  }
  return res;
}

// CHECKs a gradcheck and prints its errors, e.g. GRADCHECK([](auto& in){...}, {x, y});
#define GRADCHECK(f, inputs, ...)                                                                   \
  do {                                                                                              \
    auto gc_res_ = ::norma::testing::gradcheck(f, inputs, ##__VA_ARGS__);                         \
    INFO("max abs err " << gc_res_.max_abs_err << ", max rel err " << gc_res_.max_rel_err       \
                        << "; worst at " << gc_res_.worst);                                        \
    CHECK(gc_res_.ok);                                                                              \
  } while (0)

// A leaf with values from randn(shape) that requires grad.
inline Tensor leaf(const Shape& shape, uint64_t seed = 0) {
  Generator g(seed + 7);
  return randn(shape, &g).requires_grad_();
}

// A leaf whose values stay at least `margin` away from the given kinks (for relu, abs, max...):
// values that land too close are pushed away.
inline Tensor leaf_away_from(const Shape& shape, std::vector<float> kinks, float margin = 0.05f,
                             uint64_t seed = 0) {
  Generator g(seed + 11);
  Tensor t = randn(shape, &g);
  float* p = t.data();
  for (int64_t i = 0; i < t.numel(); ++i)
    for (float k : kinks)
      if (std::fabs(p[i] - k) < margin) p[i] = k + (p[i] >= k ? margin : -margin) * 2.f;
  return t.requires_grad_();
}

}  // namespace norma::testing
