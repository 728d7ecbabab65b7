// Helpers shared by the normalization layers' tests (test_layer_norm.cpp ... test_adain.cpp).
#pragma once
#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "fixtures.h"
#include "gradcheck.h"
#include "layers/module.h"

namespace norma::testing {

// Tensor `name` of case `kase` in tests/fixtures/norms.json (written by gen_norms.py).
inline Tensor norm_fixture(const std::string& kase, const std::string& name) {
  return fixture_tensor("norms", kase, name);
}

// CHECKs that a has b's shape and |a - b| <= atol + rtol |b| everywhere (the PyTorch fixtures'
// tolerance by default), reporting the worst element when it fails.
inline void check_close(const Tensor& a, const Tensor& b, float rtol = 1e-4f, float atol = 1e-5f) {
  REQUIRE(a.defined());
  REQUIRE(b.defined());
  REQUIRE_MESSAGE(a.shape() == b.shape(), "shape " << shape_str(a.shape()) << " vs " << shape_str(b.shape()));
  std::vector<float> va = a.to_vector(), vb = b.to_vector();
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    double excess = std::fabs(double(va[i]) - vb[i]) - (atol + rtol * std::fabs(double(vb[i])));
    if (i == 0 || excess > worst) worst = excess, at = i;
  }
  INFO("worst element " << at << ": " << (va.empty() ? 0.f : va[at]) << " vs " << (vb.empty() ? 0.f : vb[at]));
  CHECK(allclose(a, b, rtol, atol));
}

// Gives a module's affine parameters values away from their 1/0 defaults, so gradients
// through them are exercised.
inline void randomize_affine(nn::Module& m, uint64_t seed = 0) {
  Generator g(seed + 101);
  if (m.has_param("weight")) m.param("weight").copy_(normal(m.param("weight").shape(), 1.f, 0.3f, &g));
  if (m.has_param("bias")) m.param("bias").copy_(normal(m.param("bias").shape(), 0.f, 0.2f, &g));
}

// GRADCHECK of m(x) in train or eval mode, with respect to x and the named parameters (the
// module's own leaves, perturbed in place by gradcheck).
inline void module_gradcheck(nn::Module& m, const Tensor& x, const std::vector<std::string>& params, bool training) {
  m.train(training);
  std::vector<Tensor> inputs{x};
  for (const std::string& name : params) inputs.push_back(m.param(name));
  GRADCHECK([&m](const std::vector<Tensor>& in) { return m(in[0]); }, inputs);
}

// f on a whole x of `shape` (large: the threaded loops run) must agree with f on each sample
// alone (small: one thread) in output, input gradient and the accumulated gradients of the
// module parameters `params`.
inline void check_threaded_matches_per_sample(const std::function<Tensor(const Tensor&)>& f, const Shape& shape,
                                              std::vector<Tensor> params = {}) {
  Tensor x = leaf(shape, 42);
  Generator gen(43);
  Tensor g = randn(shape, &gen);
  Tensor y = f(x);
  y.backward(g);
  std::vector<Tensor> whole;
  for (Tensor& p : params) whole.push_back(p.grad().clone()), p.zero_grad();
  for (int64_t n = 0; n < shape[0]; ++n) {
    Tensor xn = slice(x.detach(), 0, n, n + 1).contiguous().requires_grad_();
    Tensor yn = f(xn);
    yn.backward(slice(g, 0, n, n + 1).contiguous());
    check_close(yn, slice(y, 0, n, n + 1), 1e-5f, 1e-6f);
    check_close(xn.grad(), slice(x.grad(), 0, n, n + 1), 1e-5f, 1e-6f);
  }
  for (size_t i = 0; i < params.size(); ++i) check_close(params[i].grad(), whole[i], 1e-4f, 1e-5f);
}

}  // namespace norma::testing
