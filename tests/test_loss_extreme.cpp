// cross_entropy, log_softmax and softmax at extreme logits (+-1e4, +-3e38, one huge among tiny
// ones, all-equal rows, -inf), against a float64 reference computed here from the same float
// logits. Tolerances (measured worst errors in docs/reliability/anomaly.md):
//   loss:      |norma - ref| <= 1e-6 + 1e-6 |ref|, and inf exactly where ref is above FLT_MAX
//   gradients: |norma - ref| <= 1e-6 (softmax - target, so |ref| <= 1)
// NORMA_PRINT_ERRORS=1 prints each test's worst errors (the figures in the docs).
#include <doctest/doctest.h>

#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <string>

#include "core/norma.h"
#include "gradcheck.h"

using namespace norma;
using namespace norma::testing;

namespace {
constexpr float kInf = std::numeric_limits<float>::infinity();

// Per row, in double: m = max z, logp_j = (z_j - m) - log sum_k exp(z_k - m),
// loss = -sum_j t_j logp_j over t_j > 0 (t = (1 - e) onehot(y) + e / C), dloss/dz_j = p_j - t_j.
struct Reference {
  double loss;
  std::vector<double> logp, grad;
};
Reference reference(const std::vector<float>& z, int64_t y, double e) {
  const size_t C = z.size();
  double m = -INFINITY;
  for (float v : z) m = std::max(m, double(v));
  double s = 0;
  for (float v : z) s += std::exp(double(v) - m);
  Reference r{0, {}, {}};
  for (size_t j = 0; j < C; ++j) {
    const double logp = (double(z[j]) - m) - std::log(s);
    const double t = (int64_t(j) == y ? 1.0 - e : 0.0) + e / double(C);
    if (t > 0) r.loss -= t * logp;
    r.logp.push_back(logp);
    r.grad.push_back(std::exp(logp) - t);
  }
  return r;
}

// Worst errors seen in this test: |got - ref| / max(|ref|, 1) for the loss and log_softmax
// (relative, absolute below 1), |got - ref| for the gradient.
double g_worst_loss = 0, g_worst_grad = 0, g_worst_logp = 0;
void print_worst(const char* test) {
  if (std::getenv("NORMA_PRINT_ERRORS"))
    std::cout << test << ": worst loss error " << g_worst_loss << ", gradient " << g_worst_grad
              << ", log_softmax " << g_worst_logp << "\n";
  g_worst_loss = g_worst_grad = g_worst_logp = 0;
}

// A float result against its double reference: inf (same sign) where the reference is beyond
// FLT_MAX, else within atol + rtol |ref|.
bool close(float got, double ref, double atol, double rtol, double* worst) {
  if (std::fabs(ref) > double(FLT_MAX)) return std::isinf(got) && (got > 0) == (ref > 0);
  const double err = std::fabs(double(got) - ref);
  *worst = std::max(*worst, err / std::max(std::fabs(ref), 1.0));
  return err <= atol + rtol * std::fabs(ref);
}

// One row as a [1, C] batch: loss (Sum), its gradient, log_softmax and softmax's values.
void check_row(const std::vector<float>& z, int64_t y, float e) {
  CAPTURE(y);
  CAPTURE(e);
  const Reference ref = reference(z, y, e);
  Tensor logits = from_vector(z, {1, int64_t(z.size())}).requires_grad_();
  Tensor loss = cross_entropy(logits, {y}, Reduction::Sum, e);
  loss.backward();
  CAPTURE(loss.item());
  CAPTURE(ref.loss);
  CHECK(close(loss.item(), ref.loss, 1e-6, 1e-6, &g_worst_loss));
  const std::vector<float> g = logits.grad().to_vector(), lp = log_softmax(logits.detach(), 1).to_vector(),
                           p = softmax(logits.detach(), 1).to_vector();
  for (size_t j = 0; j < z.size(); ++j) {
    CAPTURE(j);
    REQUIRE(std::isfinite(g[j]));
    g_worst_grad = std::max(g_worst_grad, std::fabs(double(g[j]) - ref.grad[j]));
    CHECK(std::fabs(double(g[j]) - ref.grad[j]) <= 1e-6);
    CHECK(close(lp[j], ref.logp[j], 1e-6, 1e-6, &g_worst_logp));
    CHECK(std::fabs(double(p[j]) - std::exp(ref.logp[j])) <= 1e-6);
  }
}

struct Row {
  const char* what;
  std::vector<float> z;
  std::vector<int64_t> targets;
};
const std::vector<Row>& extreme_rows() {
  static const std::vector<Row> rows = {
      {"+-1e4", {1e4f, -1e4f, 0.f}, {0, 1, 2}},
      {"+-3e38 (target 1: the true loss 6e38 is above FLT_MAX)", {3e38f, -3e38f, 0.f}, {0, 1, 2}},
      {"+-FLT_MAX", {FLT_MAX, -FLT_MAX, 1.f, -1.f}, {0, 1, 2}},
      {"one huge, the others tiny", {1e30f, 1e-30f, -1e-30f, 0.f, 1e-45f}, {0, 1, 4}},
      {"all equal 1e20 (the old lse - z_y gave 0, not log 4)", {1e20f, 1e20f, 1e20f, 1e20f}, {0, 3}},
      {"all equal -1e20", {-1e20f, -1e20f, -1e20f, -1e20f}, {1}},
      {"all equal 3e38", {3e38f, 3e38f, 3e38f}, {2}},
      {"all equal -FLT_MAX", {-FLT_MAX, -FLT_MAX, -FLT_MAX}, {0}},
      {"all zero", {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f}, {7}},
      {"1e6 offset, unit spread", {1e6f, 1e6f + 1.f, 1e6f - 1.f, 1e6f + 0.5f}, {0, 1, 2}},
      {"1e20 and 1e20 - 1 ulp", {1e20f, std::nextafter(1e20f, 0.f)}, {0, 1}},
      {"denormals", {1e-45f, -1e-45f, 0.f}, {0}},
      {"-inf, not the target", {-kInf, 1.f, 2.f, 1e4f}, {1, 3}},
      {"-inf target (loss inf)", {-kInf, 1.f, 2.f}, {0}},
  };
  return rows;
}
}  // namespace

TEST_CASE("loss extremes: cross_entropy, log_softmax and softmax match a float64 reference, smoothing 0 and 0.1") {
  for (const Row& r : extreme_rows()) {
    CAPTURE(std::string(r.what));
    for (int64_t y : r.targets)
      for (float e : {0.f, 0.1f}) check_row(r.z, y, e);
  }
  print_worst("rows");
}

TEST_CASE("loss extremes: -inf logits behave as PyTorch's") {
  // Not the target: no cost, zero gradient (softmax 0). With smoothing the target puts e / C on
  // it, so the loss is inf, as torch.nn.functional.cross_entropy's; the gradient stays finite.
  Tensor z = from_vector({-kInf, 0.f, 0.f}, {1, 3}).requires_grad_();
  Tensor plain = cross_entropy(z, {1});
  CHECK(plain.item() == doctest::Approx(std::log(2.0)));
  plain.backward();
  CHECK(z.grad().at({0, 0}) == 0.f);
  CHECK(z.grad().at({0, 1}) == doctest::Approx(-0.5));
  CHECK(z.grad().at({0, 2}) == doctest::Approx(0.5));
  z.zero_grad();
  Tensor smooth = cross_entropy(z, {1}, Reduction::Mean, 0.3f);
  CHECK(smooth.item() == kInf);
  smooth.backward();
  CHECK(z.grad().at({0, 0}) == doctest::Approx(-0.1));
  // +inf, or a row with no finite logit: NaN, as PyTorch (log_softmax is inf - inf there).
  CHECK(std::isnan(cross_entropy(from_vector({kInf, 0.f}, {1, 2}), {1}).item()));
  CHECK(std::isnan(cross_entropy(from_vector({-kInf, -kInf}, {1, 2}), {0}).item()));
}

TEST_CASE("loss extremes: random rows of scale 1 to 1e38, batched, with Mean and None") {
  Generator gen(7);
  const int64_t N = 64, C = 10;
  for (float scale : {1.f, 1e2f, 1e4f, 1e20f, 1e38f}) {
    for (float e : {0.f, 0.1f}) {
      CAPTURE(scale);
      CAPTURE(e);
      Tensor z = (uniform({N, C}, -1.f, 1.f, &gen) * scale).detach().requires_grad_();
      std::vector<int64_t> labels;
      for (int64_t i = 0; i < N; ++i) labels.push_back((i * 7) % C);
      Tensor per_row = cross_entropy(z.detach(), labels, Reduction::None, e);
      Tensor mean = cross_entropy(z, labels, Reduction::Mean, e);
      mean.backward();
      const std::vector<float> zs = z.detach().to_vector(), rows = per_row.to_vector(), g = z.grad().to_vector();
      double mean_ref = 0;
      for (int64_t i = 0; i < N; ++i) {
        const Reference ref = reference(std::vector<float>(zs.begin() + i * C, zs.begin() + (i + 1) * C), labels[i], e);
        CHECK(close(rows[size_t(i)], ref.loss, 1e-6, 1e-6, &g_worst_loss));
        mean_ref += ref.loss / double(N);
        for (int64_t j = 0; j < C; ++j) {
          const double err = std::fabs(double(g[size_t(i * C + j)]) - ref.grad[size_t(j)] / double(N));
          g_worst_grad = std::max(g_worst_grad, err * double(N));
          CHECK(err <= 1e-6 / double(N));
        }
      }
      CHECK(close(mean.item(), mean_ref, 1e-6, 1e-6, &g_worst_loss));
    }
  }
  print_worst("random");
}

TEST_CASE("gradcheck: cross_entropy of peaked rows (logits 50 +- 30), smoothing 0 and 0.1") {
  // Softmax near one-hot: the gradient is mostly tiny numbers next to one near -1.
  for (float e : {0.f, 0.1f}) {
    CAPTURE(e);
    Tensor z = (leaf({4, 6}, 11) * 10.f + 50.f).detach().requires_grad_();
    GRADCHECK([e](const std::vector<Tensor>& in) { return cross_entropy(in[0], {0, 5, 2, 3}, Reduction::Mean, e); },
              {z});
  }
}
