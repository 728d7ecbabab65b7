// spectral_norm: power iteration on the buffers, the fused W / sigma op, the module plumbing,
// and PyTorch fixtures (tests/fixtures/gen_weight_spectral_norm.py).
#include <doctest/doctest.h>

#include <cmath>

#include "core/norma.h"
#include "fixtures.h"
#include "gradcheck.h"
#include "layers/linear.h"
#include "layers/norm/spectral_norm.h"

using namespace norma;

namespace {
Tensor fx(const std::string& kase, const std::string& name) {
  return testing::fixture_tensor("weight_spectral_norm", kase, name);
}

// A module whose output is its weight times x (x broadcast, e.g. [1]): the hook on a weight
// of any shape, without a conv op.
struct WeightHolder : nn::Module {
  explicit WeightHolder(Tensor w) : nn::Module("WeightHolder") { register_parameter("weight", w); }
  Tensor forward(const Tensor& x) override { return param("weight") * x; }
};

// sigma = u^T W v from the module's buffers, W viewed as [out, K].
float sigma_of(nn::Module& m) {
  NoGradGuard ng;
  Tensor W = m.param("weight_orig");
  Tensor Wm = W.reshape({W.size(0), -1});
  return matmul(matmul(m.buffer("weight_u").reshape({1, -1}), Wm), m.buffer("weight_v").reshape({-1, 1})).item();
}

float norm(const Tensor& t) { return std::sqrt(sum(t * t).item()); }
}  // namespace

TEST_CASE("spectral_norm: parameters, buffers and state_dict keys as PyTorch") {
  auto lin = std::make_shared<nn::Linear>(6, 5);
  Tensor w0 = lin->param("weight");
  nn::spectral_norm(lin);
  CHECK_FALSE(lin->has_param("weight"));
  std::vector<std::string> keys;
  for (auto& [k, t] : lin->state_dict()) keys.push_back(k);
  CHECK(keys == std::vector<std::string>{"bias", "weight_orig", "weight_u", "weight_v"});
  CHECK(lin->named_parameters().size() == 2);
  CHECK(lin->param("weight_orig").impl_ptr() == w0.impl_ptr());  // the same parameter, renamed
  CHECK(lin->buffer("weight_u").shape() == Shape{5});
  CHECK(lin->buffer("weight_v").shape() == Shape{6});
  CHECK(norm(lin->buffer("weight_u")) == doctest::Approx(1.f).epsilon(1e-6));
  CHECK(norm(lin->buffer("weight_v")) == doctest::Approx(1.f).epsilon(1e-6));

  auto conv_shaped = std::make_shared<WeightHolder>(randn({4, 3, 3, 3}));
  nn::spectral_norm(conv_shaped);
  CHECK(conv_shaped->buffer("weight_u").shape() == Shape{4});
  CHECK(conv_shaped->buffer("weight_v").shape() == Shape{27});
}

TEST_CASE("spectral_norm: Linear matches PyTorch after one power iteration") {
  const char* k = "sn_linear";
  auto lin = std::make_shared<nn::Linear>(6, 5);
  lin->param("weight").copy_(fx(k, "weight"));
  lin->param("bias").copy_(fx(k, "bias"));
  nn::spectral_norm(lin);
  lin->buffer("weight_u").copy_(fx(k, "u0"));
  lin->buffer("weight_v").copy_(fx(k, "v0"));
  Tensor x = fx(k, "x").requires_grad_();
  Tensor y = (*lin)(x);
  CHECK(allclose(y, fx(k, "y"), 1e-4f, 1e-5f));
  CHECK(allclose(lin->buffer("weight_u"), fx(k, "u1"), 1e-4f, 1e-5f));
  CHECK(allclose(lin->buffer("weight_v"), fx(k, "v1"), 1e-4f, 1e-5f));
  const float sigma = testing::fixture_file("weight_spectral_norm").at(k).at("sigma").get<float>();
  CHECK(sigma_of(*lin) == doctest::Approx(sigma).epsilon(1e-5));
  // A second forward before the backward (a GAN discriminator on real, then fake data) moves
  // the buffers; the first output's gradient must still use the u, v it was computed with.
  Tensor y2 = (*lin)(x.detach());
  CHECK_FALSE(allclose(lin->buffer("weight_u"), fx(k, "u1"), 1e-6f, 1e-7f));
  (y * fx(k, "r")).sum().backward();
  CHECK(allclose(lin->param("weight_orig").grad(), fx(k, "dweight"), 1e-4f, 1e-5f));
  CHECK(allclose(lin->param("bias").grad(), fx(k, "dbias"), 1e-4f, 1e-5f));
  CHECK(allclose(x.grad(), fx(k, "dx"), 1e-4f, 1e-5f));
}

TEST_CASE("spectral_norm: conv-shaped weight matches PyTorch") {
  // The Conv2d fixture's W_sn and its W gradient under L = sum(W_sn * rw), through a module
  // holding the same [4, 3, 3, 3] weight.
  const char* k = "sn_conv";
  auto m = std::make_shared<WeightHolder>(fx(k, "weight"));
  nn::spectral_norm(m);
  m->buffer("weight_u").copy_(fx(k, "u0"));
  m->buffer("weight_v").copy_(fx(k, "v0"));
  Tensor w_sn = (*m)(ones({1}));
  CHECK(allclose(w_sn, fx(k, "w_sn"), 1e-4f, 1e-5f));
  CHECK(allclose(m->buffer("weight_u"), fx(k, "u1"), 1e-4f, 1e-5f));
  CHECK(allclose(m->buffer("weight_v"), fx(k, "v1"), 1e-4f, 1e-5f));
  (w_sn * fx(k, "rw")).sum().backward();
  CHECK(allclose(m->param("weight_orig").grad(), fx(k, "w_dweight"), 1e-4f, 1e-5f));
}

TEST_CASE("spectral_norm: sigma reaches the largest singular value in 20 iterations") {
  // Reference: torch.linalg.svdvals of the fixture's matrices ([8, 6] and [6, 3, 3, 3]).
  auto lin = std::make_shared<nn::Linear>(6, 8);
  lin->param("weight").copy_(fx("svd_linear", "weight"));
  nn::spectral_norm(lin, "weight", 20);
  (*lin)(zeros({1, 6}));
  const float s_lin = fx("svd_linear", "svdvals").to_vector()[0];
  CHECK(std::fabs(sigma_of(*lin) - s_lin) < 1e-3f);
  // So W_sn = W / sigma_max, whose largest singular value is 1.
  CHECK(allclose(lin->param("weight"), lin->param("weight_orig") / s_lin, 1e-3f, 1e-5f));

  auto conv_shaped = std::make_shared<WeightHolder>(fx("svd_conv", "weight"));
  nn::spectral_norm(conv_shaped, "weight", 20);
  (*conv_shaped)(ones({1}));
  CHECK(std::fabs(sigma_of(*conv_shaped) - fx("svd_conv", "svdvals").to_vector()[0]) < 1e-3f);
}

TEST_CASE("spectral_norm: eval runs no power iteration") {
  Generator gen(3);
  auto lin = std::make_shared<nn::Linear>(5, 4);
  nn::spectral_norm(lin);
  Tensor x = randn({2, 5}, &gen);
  (*lin)(x);  // training: u, v move
  lin->eval();
  Tensor u = lin->buffer("weight_u").clone(), v = lin->buffer("weight_v").clone();
  Tensor y1 = (*lin)(x), y2 = (*lin)(x);
  CHECK(equal(lin->buffer("weight_u"), u));
  CHECK(equal(lin->buffer("weight_v"), v));
  CHECK(equal(y1, y2));
  lin->train();
  (*lin)(x);
  CHECK_FALSE(equal(lin->buffer("weight_u"), u));
}

TEST_CASE("gradcheck: spectral_norm Linear eval in weight_orig and input") {
  auto lin = std::make_shared<nn::Linear>(4, 3);
  nn::spectral_norm(lin);
  (*lin)(zeros({1, 4}));  // one training step so u, v are not the random start
  lin->eval();            // u, v fixed during the finite differences
  GRADCHECK([&](const std::vector<Tensor>& in) { return (*lin)(in[0]); },
            {testing::leaf({2, 4}), lin->param("weight_orig")});
}

TEST_CASE("gradcheck: spectral_norm conv-shaped weight, no power iteration") {
  // n_power_iterations = 0 keeps u, v fixed in training too.
  auto m = std::make_shared<WeightHolder>(testing::leaf({3, 2, 2, 2}, 1).detach());
  nn::spectral_norm(m, "weight", 0);
  GRADCHECK([&](const std::vector<Tensor>& in) { return (*m)(in[0]); },
            {testing::leaf({1}, 2), m->param("weight_orig")});
}

TEST_CASE("spectral_norm: errors") {
  auto lin = std::make_shared<nn::Linear>(3, 2);
  CHECK_THROWS_WITH_AS(nn::spectral_norm(lin, "nope"),
                       doctest::Contains("spectral_norm: Linear has no parameter 'nope'"), Error);
  CHECK_THROWS_WITH_AS(nn::spectral_norm(lin, "weight", -1),
                       doctest::Contains("spectral_norm: n_power_iterations must be >= 0, got -1"), Error);
  CHECK_THROWS_WITH_AS(nn::spectral_norm(lin, "weight", 1, 0.f),
                       doctest::Contains("spectral_norm: eps must be positive"), Error);
  nn::spectral_norm(lin);
  CHECK_THROWS_WITH_AS(nn::spectral_norm(lin),
                       doctest::Contains("spectral_norm: Linear already has spectral_norm on 'weight'"), Error);
}
