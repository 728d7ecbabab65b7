// Unary ops: exact forward values, gradchecks, and a comparison with PyTorch (outputs and
// input gradients, including kinks and extreme inputs) from tests/fixtures/unary.json.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include "core/norma.h"
#include "fixtures.h"
#include "gradcheck.h"

using namespace norma;
using namespace norma::testing;

namespace {
Tensor vec(std::vector<float> v) {
  Shape s{int64_t(v.size())};
  return from_vector(v, s);
}

// Checks op(x) element by element against expected values (relative 1e-6).
void check_values(const Tensor& out, const std::vector<float>& expected) {
  std::vector<float> got = out.to_vector();
  REQUIRE(got.size() == expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i);
    CHECK(got[i] == doctest::Approx(expected[i]).epsilon(1e-6));
  }
}

// A leaf with values uniform in [lo, hi) (for the positive domain of log/sqrt/rsqrt).
Tensor leaf_in(const Shape& shape, float lo, float hi, uint64_t seed) {
  Generator g(seed);
  return uniform(shape, lo, hi, &g).requires_grad_();
}
}  // namespace

TEST_CASE("unary: forward values") {
  Tensor x = vec({-2.f, -0.5f, 0.f, 1.f, 3.f});
  check_values(neg(x), {2.f, 0.5f, -0.f, -1.f, -3.f});
  check_values(-x, {2.f, 0.5f, -0.f, -1.f, -3.f});
  check_values(abs(x), {2.f, 0.5f, 0.f, 1.f, 3.f});
  check_values(square(x), {4.f, 0.25f, 0.f, 1.f, 9.f});
  check_values(exp(x), {0.13533528f, 0.60653066f, 1.f, 2.7182818f, 20.085537f});
  check_values(relu(x), {0.f, 0.f, 0.f, 1.f, 3.f});
  check_values(leaky_relu(x), {-0.02f, -0.005f, 0.f, 1.f, 3.f});
  check_values(leaky_relu(x, 0.2f), {-0.4f, -0.1f, 0.f, 1.f, 3.f});
  check_values(sigmoid(x), {0.11920292f, 0.37754067f, 0.5f, 0.73105858f, 0.95257413f});
  check_values(tanh(x), {-0.96402758f, -0.46211716f, 0.f, 0.76159416f, 0.99505475f});
  // gelu(x) = x * Phi(x): Phi(1) = 0.8413447, Phi(-2) = 0.0227501
  check_values(gelu(x), {-0.04550026f, -0.15426877f, 0.f, 0.84134475f, 2.9959502f});
  check_values(clamp(x, -1.f, 1.5f), {-1.f, -0.5f, 0.f, 1.f, 1.5f});

  Tensor p = vec({0.25f, 1.f, 4.f, 100.f});
  check_values(log(p), {-1.3862944f, 0.f, 1.3862944f, 4.6051702f});
  check_values(sqrt(p), {0.5f, 1.f, 2.f, 10.f});
  check_values(rsqrt(p), {2.f, 1.f, 0.5f, 0.1f});
  // Outside the domain: IEEE results, as PyTorch.
  CHECK(std::isnan(sqrt(vec({-1.f})).item()));
  CHECK(log(vec({0.f})).item() == -std::numeric_limits<float>::infinity());
  // NaN passes through the activations, as in PyTorch (relu must not turn it into 0).
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (const Tensor& y : {relu(vec({nan})), leaky_relu(vec({nan})), sigmoid(vec({nan})), tanh(vec({nan})), gelu(vec({nan}))})
    CHECK(std::isnan(y.item()));
}

TEST_CASE("unary: sigmoid, tanh and gelu are stable for large |x|") {
  Tensor x = vec({-1000.f, -100.f, -30.f, 30.f, 100.f, 1000.f}).requires_grad_();
  for (Tensor (*op)(const Tensor&) : {&norma::sigmoid, &norma::tanh, &norma::gelu}) {
    Tensor y = op(x);
    y.sum().backward();
    for (float v : y.to_vector()) CHECK(std::isfinite(v));
    for (float v : x.grad().to_vector()) CHECK(std::isfinite(v));
    x.zero_grad();
  }
  Tensor s = sigmoid(x);
  CHECK(s.at({0}) == 0.f);
  CHECK(s.at({1}) >= 0.f);
  CHECK(s.at({1}) < 1e-40f);
  CHECK(s.at({5}) == 1.f);
  CHECK(tanh(x).at({0}) == -1.f);
  CHECK(gelu(x).at({4}) == 100.f);
  CHECK(std::fabs(gelu(x).at({1})) < 1e-30f);
}

TEST_CASE("unary: derivatives at kinks follow PyTorch") {
  Tensor x = vec({-1.f, 0.f, 2.f}).requires_grad_();
  abs(x).sum().backward();
  CHECK(x.grad().to_vector() == std::vector<float>{-1.f, 0.f, 1.f});
  x.zero_grad();
  relu(x).sum().backward();
  CHECK(x.grad().to_vector() == std::vector<float>{0.f, 0.f, 1.f});
  x.zero_grad();
  leaky_relu(x, 0.1f).sum().backward();
  CHECK(x.grad().to_vector() == std::vector<float>{0.1f, 0.1f, 1.f});
  x.zero_grad();
  // clamp passes the gradient on the closed interval [min, max].
  Tensor c = vec({-1.5f, -1.f, 0.f, 2.f, 2.5f}).requires_grad_();
  clamp(c, -1.f, 2.f).sum().backward();
  CHECK(c.grad().to_vector() == std::vector<float>{0.f, 1.f, 1.f, 1.f, 0.f});
  CHECK_THROWS_WITH_AS(clamp(c, 1.f, -1.f), doctest::Contains("clamp: min 1 is greater than max -1"),
                       norma::Error);
}

TEST_CASE("unary: results are not recorded without an input that requires grad") {
  Tensor x = vec({1.f, 2.f});
  CHECK_FALSE(exp(x).requires_grad());
  Tensor y = x.detach().requires_grad_();
  CHECK(exp(y).requires_grad());
  CHECK(std::string(exp(y).grad_fn()->name) == "exp");
  {
    NoGradGuard ng;
    CHECK_FALSE(gelu(y).requires_grad());
  }
}

TEST_CASE("unary: works on non-contiguous inputs") {
  Tensor x = from_vector({1.f, -2.f, 3.f, -4.f, 5.f, -6.f}, {2, 3}).requires_grad_();
  Tensor y = relu(x.t());  // [3, 2] view with strides [1, 3]
  CHECK(y.shape() == Shape{3, 2});
  CHECK(y.to_vector() == std::vector<float>{1.f, 0.f, 0.f, 5.f, 3.f, 0.f});
  y.sum().backward();
  CHECK(x.grad().to_vector() == std::vector<float>{1.f, 0.f, 1.f, 0.f, 1.f, 0.f});
}

// ---- gradchecks ------------------------------------------------------------------------------
using UnaryFn = std::function<Tensor(const Tensor&)>;

void gradcheck_unary(const UnaryFn& op, const Tensor& x) {
  GRADCHECK([&](const std::vector<Tensor>& in) { return op(in[0]); }, {x});
}

TEST_CASE("gradcheck: neg, exp, square, sigmoid, tanh, gelu") {
  Shape s{3, 4};
  gradcheck_unary([](const Tensor& x) { return neg(x); }, leaf(s, 1));
  gradcheck_unary([](const Tensor& x) { return exp(x); }, leaf(s, 2));
  gradcheck_unary([](const Tensor& x) { return square(x); }, leaf(s, 3));
  gradcheck_unary([](const Tensor& x) { return sigmoid(x); }, leaf(s, 4));
  gradcheck_unary([](const Tensor& x) { return tanh(x); }, leaf(s, 5));
  gradcheck_unary([](const Tensor& x) { return gelu(x); }, leaf(s, 6));
}

TEST_CASE("gradcheck: log, sqrt, rsqrt on positive inputs") {
  Shape s{3, 4};
  gradcheck_unary([](const Tensor& x) { return log(x); }, leaf_in(s, 0.5f, 3.f, 1));
  gradcheck_unary([](const Tensor& x) { return sqrt(x); }, leaf_in(s, 0.5f, 3.f, 2));
  gradcheck_unary([](const Tensor& x) { return rsqrt(x); }, leaf_in(s, 0.5f, 3.f, 3));
}

TEST_CASE("gradcheck: abs, relu, leaky_relu, clamp away from kinks") {
  Shape s{3, 4};
  gradcheck_unary([](const Tensor& x) { return abs(x); }, leaf_away_from(s, {0.f}, 0.05f, 1));
  gradcheck_unary([](const Tensor& x) { return relu(x); }, leaf_away_from(s, {0.f}, 0.05f, 2));
  gradcheck_unary([](const Tensor& x) { return leaky_relu(x, 0.1f); }, leaf_away_from(s, {0.f}, 0.05f, 3));
  gradcheck_unary([](const Tensor& x) { return clamp(x, -0.5f, 0.7f); },
                  leaf_away_from(s, {-0.5f, 0.7f}, 0.05f, 4));
}

TEST_CASE("gradcheck: composed unary ops") {
  // log(sigmoid(x)) + sqrt(exp(x)) * tanh(x): gradients flow through a chain of fused backwards.
  GRADCHECK([](const std::vector<Tensor>& in) { return log(sigmoid(in[0])) + sqrt(exp(in[0])) * tanh(in[0]); },
            {leaf({2, 5}, 9)});
}

// ---- PyTorch fixtures ------------------------------------------------------------------------
namespace {
void check_close(const Tensor& got, const Tensor& want, const std::string& what) {
  INFO(what << ": got " << got << "\nwant " << want);
  REQUIRE(got.shape() == want.shape());
  CHECK(allclose(got, want, 1e-5f, 1e-6f));
}

void check_fixture(const std::string& kase, const UnaryFn& op) {
  Tensor x = fixture_tensor("unary", kase, "x").requires_grad_();
  Tensor g = fixture_tensor("unary", kase, "g");
  Tensor out = op(x);
  out.backward(g);
  check_close(out, fixture_tensor("unary", kase, "out"), kase + " out");
  check_close(x.grad(), fixture_tensor("unary", kase, "dx"), kase + " dx");
}
}  // namespace

TEST_CASE("unary: outputs and gradients match PyTorch") {
  check_fixture("neg", [](const Tensor& x) { return neg(x); });
  check_fixture("abs", [](const Tensor& x) { return abs(x); });
  check_fixture("exp", [](const Tensor& x) { return exp(x); });
  check_fixture("log", [](const Tensor& x) { return log(x); });
  check_fixture("sqrt", [](const Tensor& x) { return sqrt(x); });
  check_fixture("rsqrt", [](const Tensor& x) { return rsqrt(x); });
  check_fixture("square", [](const Tensor& x) { return square(x); });
  check_fixture("sigmoid", [](const Tensor& x) { return sigmoid(x); });
  check_fixture("tanh", [](const Tensor& x) { return tanh(x); });
  check_fixture("relu", [](const Tensor& x) { return relu(x); });
  check_fixture("gelu", [](const Tensor& x) { return gelu(x); });
  for (std::string kase : {"leaky_relu", "leaky_relu_0.2"}) {
    float slope = fixture_file("unary").at(kase).at("negative_slope").get<float>();
    check_fixture(kase, [slope](const Tensor& x) { return leaky_relu(x, slope); });
  }
  const auto& c = fixture_file("unary").at("clamp");
  float lo = c.at("min").get<float>(), hi = c.at("max").get<float>();
  check_fixture("clamp", [lo, hi](const Tensor& x) { return clamp(x, lo, hi); });
}
