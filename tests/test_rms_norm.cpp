// RMSNorm: PyTorch fixtures (computed by hand in torch 1.13), gradchecks, the identity with
// LayerNorm on zero-mean rows, batch size 1, the default eps, errors.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "layers/norm/layer_norm.h"
#include "layers/norm/rms_norm.h"
#include "norm_helpers.h"

using namespace norma;
using namespace norma::testing;

TEST_CASE("rms_norm: matches PyTorch with weight and the default eps") {
  const std::string k = "rms_norm_affine";
  auto rms = std::make_shared<nn::RMSNorm>(Shape{8});
  rms->param("weight").copy_(norm_fixture(k, "weight"));
  Tensor x = norm_fixture(k, "x").requires_grad_();
  Tensor y = (*rms)(x);
  y.backward(norm_fixture(k, "g"));
  check_close(y, norm_fixture(k, "y"));
  check_close(x.grad(), norm_fixture(k, "dx"));
  check_close(rms->param("weight").grad(), norm_fixture(k, "dweight"));
}

TEST_CASE("rms_norm: matches PyTorch over 2 dims without weight") {
  const std::string k = "rms_norm_plain";
  auto rms = std::make_shared<nn::RMSNorm>(Shape{3, 8}, 1e-5f, false);
  CHECK(rms->parameters().empty());
  Tensor x = norm_fixture(k, "x").requires_grad_();
  Tensor y = (*rms)(x);
  y.backward(norm_fixture(k, "g"));
  check_close(y, norm_fixture(k, "y"));
  check_close(x.grad(), norm_fixture(k, "dx"));
}

TEST_CASE("rms_norm: default eps is float32 epsilon") {
  // Rows with mean(x^2) ~ 1e-8, where eps matters: the module must use 2^-23.
  auto rms = std::make_shared<nn::RMSNorm>(Shape{4});
  Tensor x = leaf({3, 4}, 1).detach() * 1e-4f;
  Tensor y = (*rms)(x);
  check_close(y, nn::rms_norm(x, {4}, ones({4}), std::numeric_limits<float>::epsilon()), 1e-6f, 0.f);
  CHECK_FALSE(allclose(y, nn::rms_norm(x, {4}, ones({4}), 1e-6f), 1e-3f, 0.f));
  // and by hand for one element: y = x / sqrt(mean(x^2) + eps)
  double ms = 0;
  for (int64_t j = 0; j < 4; ++j) ms += double(x.at({0, j})) * x.at({0, j}) / 4.0;
  CHECK(y.at({0, 1}) == doctest::Approx(x.at({0, 1}) / std::sqrt(ms + std::pow(2.0, -23))).epsilon(1e-5));
}

TEST_CASE("rms_norm: equals LayerNorm without bias on zero-mean rows") {
  // Rows with mean 0: var = mean(x^2), so LayerNorm(weight, no bias) == RMSNorm(weight), same eps.
  Tensor x = leaf({4, 6}, 2).detach();
  x = x - mean(x, {1}, true);
  Tensor w1 = leaf({6}, 3), w2 = w1.detach().clone().requires_grad_();
  Tensor x1 = x.clone().requires_grad_(), x2 = x.clone().requires_grad_();
  Tensor y_ln = nn::layer_norm(x1, {6}, w1, Tensor(), 1e-5f);
  Tensor y_rms = nn::rms_norm(x2, {6}, w2, 1e-5f);
  check_close(y_rms, y_ln, 1e-5f, 1e-6f);
  Tensor g = leaf({4, 6}, 4).detach();
  y_ln.backward(g);
  y_rms.backward(g);
  // Same xhat, so the weight gradients agree too (the input gradients need not: LayerNorm's
  // projects out the mean direction, RMSNorm's does not).
  check_close(w2.grad(), w1.grad(), 1e-5f, 1e-6f);
}

TEST_CASE("gradcheck: rms_norm train weight") {
  auto rms = std::make_shared<nn::RMSNorm>(Shape{6}, 1e-5f);
  randomize_affine(*rms);
  module_gradcheck(*rms, leaf({3, 6}, 5), {"weight"}, true);
}

TEST_CASE("gradcheck: rms_norm eval weight 2 dims") {
  auto rms = std::make_shared<nn::RMSNorm>(Shape{2, 3});
  randomize_affine(*rms, 1);
  module_gradcheck(*rms, leaf({2, 2, 3}, 6), {"weight"}, false);
}

TEST_CASE("gradcheck: rms_norm train no weight") {
  auto rms = std::make_shared<nn::RMSNorm>(Shape{5}, 1e-5f, false);
  module_gradcheck(*rms, leaf({4, 5}, 7), {}, true);
}

TEST_CASE("rms_norm: batch size 1") {
  auto rms = std::make_shared<nn::RMSNorm>(Shape{7});
  randomize_affine(*rms, 2);
  Tensor x = leaf({1, 7}, 8);
  Tensor y = (*rms)(x);
  REQUIRE(y.shape() == Shape{1, 7});
  // y / weight has mean square mean(x^2) / (mean(x^2) + eps) ~ 1
  double ms = 0;
  for (int64_t j = 0; j < 7; ++j) ms += std::pow(y.at({0, j}) / rms->param("weight").at({j}), 2) / 7.0;
  CHECK(ms == doctest::Approx(1.0).epsilon(1e-5));
  module_gradcheck(*rms, x, {"weight"}, true);
  module_gradcheck(*rms, x, {"weight"}, false);
}

TEST_CASE("rms_norm: errors name both shapes") {
  nn::RMSNorm rms({4});
  CHECK_THROWS_WITH_AS(rms(zeros({2, 5})), doctest::Contains("rms_norm: expected input with trailing dims [4]"),
                       Error);
  CHECK_THROWS_WITH_AS(rms(zeros({2, 5})), doctest::Contains("got input [2, 5]"), Error);
  CHECK_THROWS_WITH_AS(nn::rms_norm(zeros({2, 4}), {4}, ones({2, 4}), 1e-5f),
                       doctest::Contains("weight [2, 4] must have normalized_shape [4]"), Error);
}

TEST_CASE("rms_norm: repr and state_dict") {
  nn::RMSNorm rms({8});
  CHECK(rms.repr() == "RMSNorm((8,), eps=None, elementwise_affine=true)");
  CHECK(nn::RMSNorm({2, 3}, 1e-5f).repr() == "RMSNorm((2, 3), eps=1e-05, elementwise_affine=true)");
  auto sd = rms.state_dict();
  REQUIRE(sd.size() == 1);
  CHECK(sd[0].first == "weight");
}

TEST_CASE("rms_norm: large input (threaded loops) matches sample by sample") {
  auto rms = std::make_shared<nn::RMSNorm>(Shape{200});
  randomize_affine(*rms, 5);
  check_threaded_matches_per_sample([&](const Tensor& x) { return (*rms)(x); }, {6, 60, 200}, {rms->param("weight")});
}
