// LayerNorm: PyTorch fixtures (forward and every gradient), gradchecks, batch size 1, errors.
#include <doctest/doctest.h>

#include "layers/norm/layer_norm.h"
#include "norm_helpers.h"

using namespace norma;
using namespace norma::testing;

TEST_CASE("layer_norm: matches PyTorch with affine over 2 dims") {
  const std::string k = "layer_norm_affine";
  auto ln = std::make_shared<nn::LayerNorm>(Shape{4, 5});
  ln->param("weight").copy_(norm_fixture(k, "weight"));
  ln->param("bias").copy_(norm_fixture(k, "bias"));
  Tensor x = norm_fixture(k, "x").requires_grad_();
  Tensor y = (*ln)(x);
  y.backward(norm_fixture(k, "g"));
  check_close(y, norm_fixture(k, "y"));
  check_close(x.grad(), norm_fixture(k, "dx"));
  check_close(ln->param("weight").grad(), norm_fixture(k, "dweight"));
  check_close(ln->param("bias").grad(), norm_fixture(k, "dbias"));
}

TEST_CASE("layer_norm: matches PyTorch without affine") {
  const std::string k = "layer_norm_plain";
  auto ln = std::make_shared<nn::LayerNorm>(Shape{4, 6}, 1e-5f, false);
  CHECK(ln->parameters().empty());
  Tensor x = norm_fixture(k, "x").requires_grad_();
  Tensor y = (*ln)(x);
  y.backward(norm_fixture(k, "g"));
  check_close(y, norm_fixture(k, "y"));
  check_close(x.grad(), norm_fixture(k, "dx"));
}

TEST_CASE("layer_norm: rows have mean 0 and variance 1 with unit affine") {
  nn::LayerNorm ln({6});
  Tensor x = leaf({5, 6}, 3) * 3.f + 2.f;
  Tensor y = ln(x);
  for (int64_t r = 0; r < 5; ++r) {
    double m = 0, v = 0;
    for (int64_t j = 0; j < 6; ++j) m += y.at({r, j}) / 6.0;
    for (int64_t j = 0; j < 6; ++j) v += (y.at({r, j}) - m) * (y.at({r, j}) - m) / 6.0;
    CHECK(m == doctest::Approx(0.0).epsilon(1e-5));
    CHECK(v == doctest::Approx(1.0).epsilon(1e-3));
  }
}

TEST_CASE("gradcheck: layer_norm train affine 2 dims") {
  auto ln = std::make_shared<nn::LayerNorm>(Shape{3, 4});
  randomize_affine(*ln);
  module_gradcheck(*ln, leaf({2, 3, 4}, 1), {"weight", "bias"}, true);
}

TEST_CASE("gradcheck: layer_norm eval affine 2 dims") {
  auto ln = std::make_shared<nn::LayerNorm>(Shape{3, 4});
  randomize_affine(*ln, 1);
  module_gradcheck(*ln, leaf({2, 3, 4}, 2), {"weight", "bias"}, false);
}

TEST_CASE("gradcheck: layer_norm train no affine, and weight without bias") {
  auto ln = std::make_shared<nn::LayerNorm>(Shape{5}, 1e-5f, false);
  module_gradcheck(*ln, leaf({3, 5}, 3), {}, true);
  Tensor w = leaf({5}, 4);
  GRADCHECK([](const std::vector<Tensor>& in) { return nn::layer_norm(in[0], {5}, in[1], Tensor()); },
            (std::vector<Tensor>{leaf({3, 5}, 5), w}));
}

TEST_CASE("layer_norm: batch size 1") {
  auto ln = std::make_shared<nn::LayerNorm>(Shape{2, 3});
  randomize_affine(*ln, 2);
  Tensor x = leaf({1, 2, 3}, 6);
  Tensor y = (*ln)(x);
  CHECK(y.shape() == Shape{1, 2, 3});
  // Same row inside a larger batch gives the same output: statistics are per sample.
  std::vector<float> v = x.to_vector(), rest = leaf({2, 2, 3}, 7).to_vector();
  v.insert(v.end(), rest.begin(), rest.end());
  Tensor big = from_vector(v, {3, 2, 3});
  check_close(y, slice((*ln)(big), 0, 0, 1), 1e-6f, 1e-6f);
  module_gradcheck(*ln, x, {"weight", "bias"}, true);
  module_gradcheck(*ln, x, {"weight", "bias"}, false);
}

TEST_CASE("layer_norm: errors name both shapes") {
  nn::LayerNorm ln({4, 5});
  CHECK_THROWS_WITH_AS(ln(zeros({2, 3, 5})), doctest::Contains("[4, 5]"), Error);
  CHECK_THROWS_WITH_AS(ln(zeros({2, 3, 5})), doctest::Contains("[2, 3, 5]"), Error);
  CHECK_THROWS_WITH_AS(ln(zeros({5})), doctest::Contains("layer_norm"), Error);
  CHECK_THROWS_WITH_AS(nn::layer_norm(zeros({2, 5}), {5}, ones({4}), Tensor()),
                       doctest::Contains("weight [4] must have normalized_shape [5]"), Error);
  CHECK_THROWS_WITH_AS(nn::LayerNorm(Shape{}), doctest::Contains("LayerNorm: normalized_shape"), Error);
}

TEST_CASE("layer_norm: repr and state_dict") {
  nn::LayerNorm ln({4, 5});
  CHECK(ln.repr() == "LayerNorm((4, 5), eps=1e-05, elementwise_affine=true)");
  CHECK(nn::LayerNorm({8}, 1e-6f, false).repr() == "LayerNorm((8,), eps=1e-06, elementwise_affine=false)");
  auto sd = ln.state_dict();
  REQUIRE(sd.size() == 2);
  CHECK(sd[0].first == "weight");
  CHECK(equal(sd[0].second, ones({4, 5})));
  CHECK(sd[1].first == "bias");
  CHECK(equal(sd[1].second, zeros({4, 5})));
}

TEST_CASE("layer_norm: large input (threaded loops) matches sample by sample") {
  auto ln = std::make_shared<nn::LayerNorm>(Shape{2, 300});
  randomize_affine(*ln, 5);
  check_threaded_matches_per_sample([&](const Tensor& x) { return (*ln)(x); }, {8, 30, 2, 300},
                                    {ln->param("weight"), ln->param("bias")});
}
