// Normalization layers on badly conditioned inputs (issue 8): every norm, in float, against a
// float64 reference computed here with double loops from the same float inputs and parameters.
//   offset:   x = 1e4 + 0.1 z (variance 1e-2 under a common offset 1e4: E[x^2] - E[x]^2 in float
//             would cancel to noise, and the float mean alone is off by up to half an ulp of 1e4)
//   constant: every x = 1234.567 (variance 0: rstd = 1/sqrt(eps))
// Checked: outputs within 1e-3 (relative above 1), every gradient finite, and the input
// gradient of sum(y * g) within 1e-3 of the largest reference value. Each case prints its
// worst errors (docs/reliability/numerics.md lists them).
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "core/norma.h"
#include "layers/norm/adain.h"
#include "layers/norm/batch_norm.h"
#include "layers/norm/ghost_batch_norm.h"
#include "layers/norm/group_norm.h"
#include "layers/norm/instance_norm.h"
#include "layers/norm/layer_norm.h"
#include "layers/norm/rms_norm.h"
#include "layers/norm/sync_batch_norm.h"

using namespace norma;

namespace {
constexpr double kEps = 1e-5;
constexpr double kOutTol = 1e-3, kGradTol = 1e-3;

enum class Kind { Offset, Constant };
std::string kind_name(Kind k) { return k == Kind::Offset ? "offset 1e4, variance 1e-2" : "constant"; }

Tensor input(Kind k, const Shape& s, uint64_t seed) {
  Generator gen(seed);
  return k == Kind::Offset ? normal(s, 1e4f, 0.1f, &gen) : full(s, 1234.567f);
}

std::vector<double> as_double(const Tensor& t) {
  std::vector<float> v = t.contiguous().to_vector();
  return std::vector<double>(v.begin(), v.end());
}

// One normalization as the reference sees it: element e belongs to statistic stat(e) and is
// scaled by w[aff(e)] and shifted by b[aff(e)] (aff < 0: no affine). rms: no mean subtracted.
struct Spec {
  std::function<int64_t(int64_t)> stat, aff;
  bool rms = false;
};

struct Ref {
  std::vector<double> y, dx;
};

// y = (x - mean) / sqrt(var + eps) * w + b per statistic (two-pass, double), and for the loss
// sum(y * g): dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = g * w
// (rms: mean = 0 and the mean(dxhat) term drops).
Ref reference(const std::vector<double>& x, const std::vector<double>& g, const std::vector<double>& w,
              const std::vector<double>& b, const Spec& sp) {
  const int64_t E = int64_t(x.size());
  int64_t S = 0;
  for (int64_t e = 0; e < E; ++e) S = std::max(S, sp.stat(e) + 1);
  const size_t ns = size_t(S);
  std::vector<double> cnt(ns), mean(ns), var(ns), md(ns), mdx(ns);
  for (int64_t e = 0; e < E; ++e) cnt[size_t(sp.stat(e))] += 1, mean[size_t(sp.stat(e))] += x[size_t(e)];
  for (int64_t s = 0; s < S; ++s) mean[size_t(s)] = sp.rms ? 0.0 : mean[size_t(s)] / cnt[size_t(s)];
  for (int64_t e = 0; e < E; ++e) {
    const double d = x[size_t(e)] - mean[size_t(sp.stat(e))];
    var[size_t(sp.stat(e))] += d * d;
  }
  auto rstd = [&](int64_t s) { return 1.0 / std::sqrt(var[size_t(s)] / cnt[size_t(s)] + kEps); };
  auto xhat = [&](int64_t e) { return (x[size_t(e)] - mean[size_t(sp.stat(e))]) * rstd(sp.stat(e)); };
  auto wt = [&](int64_t e) { return sp.aff(e) < 0 ? 1.0 : w[size_t(sp.aff(e))]; };
  Ref r{std::vector<double>(x.size()), std::vector<double>(x.size())};
  for (int64_t e = 0; e < E; ++e) {
    r.y[size_t(e)] = xhat(e) * wt(e) + (sp.aff(e) < 0 ? 0.0 : b[size_t(sp.aff(e))]);
    md[size_t(sp.stat(e))] += g[size_t(e)] * wt(e) / cnt[size_t(sp.stat(e))];
    mdx[size_t(sp.stat(e))] += g[size_t(e)] * wt(e) * xhat(e) / cnt[size_t(sp.stat(e))];
  }
  for (int64_t e = 0; e < E; ++e) {
    const int64_t s = sp.stat(e);
    r.dx[size_t(e)] = rstd(s) * (g[size_t(e)] * wt(e) - (sp.rms ? 0.0 : md[size_t(s)]) - xhat(e) * mdx[size_t(s)]);
  }
  return r;
}

// max |a - ref| / max(1, |ref|) elementwise (outputs), or / max(1, max |ref|) (gradients).
double rel_err(const Tensor& a, const std::vector<double>& ref, bool per_element) {
  std::vector<float> v = a.contiguous().to_vector();
  REQUIRE(v.size() == ref.size());
  double scale = 1.0, worst = 0.0;
  for (double r : ref) scale = std::max(scale, std::fabs(r));
  for (size_t i = 0; i < v.size(); ++i) {
    const double err = std::fabs(double(v[i]) - ref[i]);
    if (!std::isfinite(v[i])) return INFINITY;
    worst = std::max(worst, err / (per_element ? std::max(1.0, std::fabs(ref[i])) : scale));
  }
  return worst;
}

bool all_finite(const Tensor& t) {
  if (!t.defined()) return false;
  for (float v : t.contiguous().to_vector())
    if (!std::isfinite(v)) return false;
  return true;
}

// Runs f(x) for both kinds of input, backpropagates sum(y * g), and checks y and dx against the
// reference and that the gradients of x and of `params` are finite.
void check_norm(const std::string& name, const Shape& shape, const Spec& sp,
                const std::function<Tensor(const Tensor&)>& f, std::vector<Tensor> params = {},
                const Tensor& w = Tensor(), const Tensor& b = Tensor(), bool check_dx = true) {
  for (Kind k : {Kind::Offset, Kind::Constant}) {
    CAPTURE(name);
    CAPTURE(kind_name(k));
    Generator gen(7);
    Tensor x = input(k, shape, 3).requires_grad_(), g = randn(shape, &gen);
    for (Tensor& p : params) p.zero_grad();
    Tensor y = f(x);
    (y * g).sum().backward();
    Ref ref = reference(as_double(x), as_double(g), w.defined() ? as_double(w) : std::vector<double>{},
                        b.defined() ? as_double(b) : std::vector<double>{}, sp);
    const double ey = rel_err(y, ref.y, true), edx = rel_err(x.grad(), ref.dx, false);
    MESSAGE(name << ", " << kind_name(k) << ": output error " << ey << ", input gradient error " << edx);
    CHECK(ey <= kOutTol);
    CHECK(all_finite(x.grad()));
    if (check_dx) CHECK(edx <= kGradTol);
    for (Tensor& p : params) CHECK(all_finite(p.grad()));
  }
}

// Affine parameters away from 1 and 0, so that gradients through them mean something.
void randomize(nn::Module& m) {
  Generator gen(101);
  if (m.has_param("weight")) m.param("weight").copy_(normal(m.param("weight").shape(), 1.f, 0.3f, &gen));
  if (m.has_param("bias")) m.param("bias").copy_(normal(m.param("bias").shape(), 0.f, 0.2f, &gen));
}

std::vector<Tensor> affine_params(nn::Module& m) { return {m.param("weight"), m.param("bias")}; }
}  // namespace

TEST_CASE("norm numerics: BatchNorm1d and BatchNorm2d in training, offset and constant channels") {
  nn::BatchNorm1d bn1(3);
  randomize(bn1);
  check_norm("BatchNorm1d [16, 3]", {16, 3}, {[](int64_t e) { return e % 3; }, [](int64_t e) { return e % 3; }},
             [&](const Tensor& x) { return bn1(x); }, affine_params(bn1), bn1.param("weight"), bn1.param("bias"));
  nn::BatchNorm2d bn2(3);
  randomize(bn2);
  auto ch = [](int64_t e) { return e / 16 % 3; };
  check_norm("BatchNorm2d [4, 3, 4, 4]", {4, 3, 4, 4}, {ch, ch}, [&](const Tensor& x) { return bn2(x); },
             affine_params(bn2), bn2.param("weight"), bn2.param("bias"));
  // The running variance of a constant channel decays to 0 and stays finite.
  for (float v : bn2.buffer("running_var").to_vector()) CHECK(std::isfinite(v));
}

TEST_CASE("norm numerics: BatchNorm2d in eval with running statistics 1e4 and variance 1e-2 or 0") {
  for (Kind k : {Kind::Offset, Kind::Constant}) {
    CAPTURE(kind_name(k));
    nn::BatchNorm2d bn(3);
    randomize(bn);
    bn.buffer("running_mean").fill_(k == Kind::Offset ? 1e4f : 1234.567f);
    bn.buffer("running_var").fill_(k == Kind::Offset ? 1e-2f : 0.f);
    bn.eval();
    Generator gen(7);
    Tensor x = input(k, {4, 3, 4, 4}, 3).requires_grad_(), g = randn({4, 3, 4, 4}, &gen);
    Tensor y = bn(x);
    (y * g).sum().backward();
    std::vector<double> xd = as_double(x), gd = as_double(g), w = as_double(bn.param("weight")),
                        b = as_double(bn.param("bias")), rm = as_double(bn.buffer("running_mean")),
                        rv = as_double(bn.buffer("running_var")), ry(xd.size()), rdx(xd.size());
    for (size_t e = 0; e < xd.size(); ++e) {
      const size_t c = e / 16 % 3;
      const double rs = 1.0 / std::sqrt(rv[c] + kEps);
      ry[e] = (xd[e] - rm[c]) * rs * w[c] + b[c];
      rdx[e] = gd[e] * w[c] * rs;
    }
    const double ey = rel_err(y, ry, true), edx = rel_err(x.grad(), rdx, false);
    MESSAGE("BatchNorm2d eval, " << kind_name(k) << ": output error " << ey << ", input gradient error " << edx);
    CHECK(ey <= kOutTol);
    CHECK(edx <= kGradTol);
    CHECK(all_finite(bn.param("weight").grad()));
    CHECK(all_finite(bn.param("bias").grad()));
  }
}

TEST_CASE("norm numerics: LayerNorm, RMSNorm, GroupNorm and InstanceNorm2d") {
  const Shape s{4, 6, 4, 4};  // 96 values per sample, 16 per (sample, channel)
  nn::LayerNorm ln({6, 4, 4});
  randomize(ln);
  check_norm("LayerNorm (6, 4, 4)", s, {[](int64_t e) { return e / 96; }, [](int64_t e) { return e % 96; }},
             [&](const Tensor& x) { return ln(x); }, affine_params(ln), ln.param("weight"), ln.param("bias"));
  nn::RMSNorm rms({6, 4, 4}, 1e-5f);
  randomize(rms);
  Spec rs{[](int64_t e) { return e / 96; }, [](int64_t e) { return e % 96; }, true};
  check_norm("RMSNorm (6, 4, 4)", s, rs, [&](const Tensor& x) { return rms(x); }, {rms.param("weight")},
             rms.param("weight"), zeros({96}));
  nn::GroupNorm gn(3, 6);
  randomize(gn);
  check_norm("GroupNorm 3 groups of 6 channels", s,
             {[](int64_t e) { return e / 32; }, [](int64_t e) { return e / 16 % 6; }},
             [&](const Tensor& x) { return gn(x); }, affine_params(gn), gn.param("weight"), gn.param("bias"));
  nn::InstanceNorm2d in(6, 1e-5f, 0.1f, true);
  randomize(in);
  check_norm("InstanceNorm2d affine", s, {[](int64_t e) { return e / 16; }, [](int64_t e) { return e / 16 % 6; }},
             [&](const Tensor& x) { return in(x); }, affine_params(in), in.param("weight"), in.param("bias"));
}

TEST_CASE("norm numerics: GhostBatchNorm and SyncBatchNorm (one process) in training") {
  nn::GhostBatchNorm gbn(3, 2);
  randomize(gbn);
  // Chunks of 2 samples: statistic (chunk, channel).
  check_norm("GhostBatchNorm chunks of 2", {8, 3, 4, 4},
             {[](int64_t e) { return e / 96 * 3 + e / 16 % 3; }, [](int64_t e) { return e / 16 % 3; }},
             [&](const Tensor& x) { return gbn(x); }, affine_params(gbn), gbn.param("weight"), gbn.param("bias"));
  Generator gen(9);
  Tensor w = normal({3}, 1.f, 0.3f, &gen).requires_grad_(), b = normal({3}, 0.f, 0.2f, &gen).requires_grad_();
  Tensor rm = zeros({3}), rv = ones({3});
  auto ch = [](int64_t e) { return e / 16 % 3; };
  check_norm("sync_batch_norm", {4, 3, 4, 4}, {ch, ch},
             [&](const Tensor& x) { return nn::sync_batch_norm(x, rm, rv, w, b); }, {w, b}, w, b);
}

TEST_CASE("norm numerics: AdaIN with content and style offset or constant") {
  for (Kind style_kind : {Kind::Offset, Kind::Constant}) {
    // y = sigma(style) * xhat(content) + mu(style) per (sample, channel): the reference's
    // weight and bias per statistic are style's sigma and mu, in double.
    Tensor style = input(style_kind, {2, 3, 5, 5}, 4).requires_grad_();
    std::vector<double> sd = as_double(style), mu(6), sigma(6);
    for (size_t e = 0; e < sd.size(); ++e) mu[e / 25] += sd[e] / 25;
    for (size_t e = 0; e < sd.size(); ++e) sigma[e / 25] += (sd[e] - mu[e / 25]) * (sd[e] - mu[e / 25]) / 25;
    std::vector<float> sf(6), mf(6);
    for (size_t i = 0; i < 6; ++i) sf[i] = float(std::sqrt(sigma[i] + kEps)), mf[i] = float(mu[i]);
    auto per_stat = [](int64_t e) { return e / 16; };
    // The reference reads w and b as floats: they carry sigma and mu rounded to float, which is
    // within the tolerance (mu = 1e4 rounds by at most 5e-4, i.e. 5e-8 relative).
    check_norm(std::string("AdaIN, style ") + kind_name(style_kind), {2, 3, 4, 4}, {per_stat, per_stat},
               [&](const Tensor& x) { return nn::adain(x, style); }, {style}, from_vector(sf, {6}),
               from_vector(mf, {6}));
  }
}
