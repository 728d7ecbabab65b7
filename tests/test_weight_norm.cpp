// weight_norm: the fused w = g v / ||v|| op, the module plumbing (parameters, hook,
// state_dict), Salimans & Kingma's data-dependent init, and PyTorch fixtures
// (tests/fixtures/gen_weight_spectral_norm.py).
#include <doctest/doctest.h>

#include <cmath>

#include "core/norma.h"
#include "fixtures.h"
#include "gradcheck.h"
#include "layers/linear.h"
#include "layers/norm/weight_norm.h"

using namespace norma;

namespace {
Tensor fx(const std::string& kase, const std::string& name) {
  return testing::fixture_tensor("weight_spectral_norm", kase, name);
}

// A module whose output is its weight times x (x broadcast, e.g. [1]): the hooks on a weight
// of any shape, without a conv op.
struct WeightHolder : nn::Module {
  explicit WeightHolder(Tensor w) : nn::Module("WeightHolder") { register_parameter("weight", w); }
  Tensor forward(const Tensor& x) override { return param("weight") * x; }
};

// Per-slice L2 norms of w along every dim but 0: [out].
std::vector<float> row_norms(const Tensor& w) {
  Tensor w2 = w.detach().contiguous();
  const int64_t out = w2.size(0), K = w2.numel() / out;
  std::vector<float> n(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) {
    double s = 0;
    for (int64_t k = 0; k < K; ++k) s += double(w2.data()[o * K + k]) * w2.data()[o * K + k];
    n[size_t(o)] = float(std::sqrt(s));
  }
  return n;
}

// Scales g away from ||v|| (so that both matter in the gradients).
void scale_g(nn::Module& m, uint64_t seed) {
  Generator gen(seed);
  Tensor& g = m.param("weight_g");
  g.copy_(g.detach() * uniform(g.shape(), 0.5f, 1.5f, &gen));
}
}  // namespace

TEST_CASE("weight_norm: parameters, state_dict keys and shapes as PyTorch") {
  auto lin = std::make_shared<nn::Linear>(5, 4);
  Tensor w0 = lin->param("weight").detach().clone();
  nn::weight_norm(lin);
  CHECK_FALSE(lin->has_param("weight"));
  std::vector<std::string> keys;
  for (auto& [k, t] : lin->state_dict()) keys.push_back(k);
  CHECK(keys == std::vector<std::string>{"bias", "weight_g", "weight_v"});
  CHECK(lin->named_parameters().size() == 3);
  CHECK(lin->param("weight_g").shape() == Shape{4, 1});
  CHECK(lin->param("weight_v").shape() == Shape{4, 5});
  CHECK(equal(lin->param("weight_v").detach(), w0));      // v is the old weight
  CHECK(allclose(lin->param("weight").detach(), w0, 1e-6f, 1e-7f));  // w unchanged: g = ||v||

  auto conv_shaped = std::make_shared<WeightHolder>(randn({6, 3, 2, 2}));
  nn::weight_norm(conv_shaped);
  CHECK(conv_shaped->param("weight_g").shape() == Shape{6, 1, 1, 1});
  auto dim1 = std::make_shared<WeightHolder>(randn({6, 3, 2}));
  nn::weight_norm(dim1, "weight", 1);
  CHECK(dim1->param("weight_g").shape() == Shape{1, 3, 1});
  auto whole = std::make_shared<WeightHolder>(randn({6, 3}));
  nn::weight_norm(whole, "weight", -1);
  CHECK(whole->param("weight_g").shape() == Shape{});
  Tensor v = whole->param("weight_v");
  CHECK(whole->param("weight_g").item() == doctest::Approx(std::sqrt(sum(v * v).item())));
}

TEST_CASE("weight_norm: Linear output unchanged right after wrapping") {
  Generator gen(5);
  auto lin = std::make_shared<nn::Linear>(7, 3);
  Tensor x = randn({4, 7}, &gen);
  Tensor before = (*lin)(x).detach();
  nn::weight_norm(lin);
  CHECK(allclose((*lin)(x), before, 1e-5f, 1e-6f));
}

TEST_CASE("weight_norm: ||w|| equals g per output unit") {
  auto lin = std::make_shared<nn::Linear>(6, 5);
  nn::weight_norm(lin);
  scale_g(*lin, 3);
  (*lin)(zeros({1, 6}));  // the hook recomputes w from the new g
  std::vector<float> n = row_norms(lin->param("weight")), g = lin->param("weight_g").to_vector();
  for (size_t o = 0; o < n.size(); ++o) CHECK(n[o] == doctest::Approx(g[o]).epsilon(1e-5));
  CHECK(g[0] != doctest::Approx(row_norms(lin->param("weight_v"))[0]).epsilon(1e-3));  // g really moved

  // dim 1: one norm per column.
  auto lin1 = std::make_shared<nn::Linear>(6, 5);
  nn::weight_norm(lin1, "weight", 1);
  scale_g(*lin1, 4);
  (*lin1)(zeros({1, 6}));
  std::vector<float> cols = row_norms(lin1->param("weight").t()), g1 = lin1->param("weight_g").to_vector();
  REQUIRE(cols.size() == 6);
  for (size_t i = 0; i < cols.size(); ++i) CHECK(cols[i] == doctest::Approx(g1[i]).epsilon(1e-5));
}

TEST_CASE("weight_norm: Linear matches PyTorch (dim 0 and dim 1)") {
  for (const char* kase : {"wn_linear", "wn_linear_dim1"}) {
    CAPTURE(kase);
    const int64_t dim = testing::fixture_file("weight_spectral_norm").at(kase).at("dim").get<int64_t>();
    auto lin = std::make_shared<nn::Linear>(5, 4);
    lin->param("weight").copy_(fx(kase, "v"));
    lin->param("bias").copy_(fx(kase, "bias"));
    nn::weight_norm(lin, "weight", dim);
    CHECK(allclose(lin->param("weight_g"), fx(kase, "g0"), 1e-5f, 1e-6f));  // g = ||v|| as PyTorch
    lin->param("weight_g").copy_(fx(kase, "g"));
    Tensor x = fx(kase, "x").requires_grad_();
    Tensor y = (*lin)(x);
    CHECK(allclose(y, fx(kase, "y"), 1e-4f, 1e-5f));
    (y * fx(kase, "r")).sum().backward();
    CHECK(allclose(lin->param("weight_g").grad(), fx(kase, "dg"), 1e-4f, 1e-5f));
    CHECK(allclose(lin->param("weight_v").grad(), fx(kase, "dv"), 1e-4f, 1e-5f));
    CHECK(allclose(lin->param("bias").grad(), fx(kase, "dbias"), 1e-4f, 1e-5f));
    CHECK(allclose(x.grad(), fx(kase, "dx"), 1e-4f, 1e-5f));
  }
}

TEST_CASE("weight_norm: conv-shaped weight matches PyTorch") {
  // The Conv2d fixture's w and its g, v gradients under L = sum(w * rw), through a module
  // holding the same [4, 3, 3, 3] weight.
  auto m = std::make_shared<WeightHolder>(fx("wn_conv", "v"));
  nn::weight_norm(m);
  CHECK(allclose(m->param("weight_g"), fx("wn_conv", "g0"), 1e-5f, 1e-6f));
  m->param("weight_g").copy_(fx("wn_conv", "g"));
  Tensor w = (*m)(ones({1}));
  CHECK(allclose(w, fx("wn_conv", "w"), 1e-4f, 1e-5f));
  (w * fx("wn_conv", "rw")).sum().backward();
  CHECK(allclose(m->param("weight_g").grad(), fx("wn_conv", "w_dg"), 1e-4f, 1e-5f));
  CHECK(allclose(m->param("weight_v").grad(), fx("wn_conv", "w_dv"), 1e-4f, 1e-5f));
}

TEST_CASE("weight_norm: load_state_dict round trip") {
  Generator gen(9);
  auto a = std::make_shared<nn::Linear>(4, 3), b = std::make_shared<nn::Linear>(4, 3);
  nn::weight_norm(a);
  nn::weight_norm(b);
  scale_g(*a, 1);
  b->load_state_dict(a->state_dict());
  Tensor x = randn({2, 4}, &gen);
  CHECK(allclose((*b)(x), (*a)(x), 1e-6f, 1e-7f));
}

TEST_CASE("gradcheck: weight_norm Linear in g, v and input") {
  auto lin = std::make_shared<nn::Linear>(4, 3);
  nn::weight_norm(lin);
  scale_g(*lin, 2);
  GRADCHECK([&](const std::vector<Tensor>& in) { return (*lin)(in[0]); },
            {testing::leaf({2, 4}), lin->param("weight_g"), lin->param("weight_v")});
}

TEST_CASE("gradcheck: weight_norm dim 1, dim -1 and a 4-d weight") {
  // dim 1 of a [3, 4, 2] weight: slices with outer and inner both > 1.
  auto m = std::make_shared<WeightHolder>(testing::leaf({3, 4, 2}, 1).detach());
  nn::weight_norm(m, "weight", 1);
  scale_g(*m, 5);
  GRADCHECK([&](const std::vector<Tensor>& in) { return (*m)(in[0]); },
            {testing::leaf({1}, 2), m->param("weight_g"), m->param("weight_v")});
  // dim -1: one norm over the whole weight.
  auto whole = std::make_shared<WeightHolder>(testing::leaf({3, 4}, 3).detach());
  nn::weight_norm(whole, "weight", -1);
  GRADCHECK([&](const std::vector<Tensor>& in) { return (*whole)(in[0]); },
            {testing::leaf({1}, 4), whole->param("weight_g"), whole->param("weight_v")});
  auto conv_shaped = std::make_shared<WeightHolder>(testing::leaf({4, 3, 2, 2}, 5).detach());
  nn::weight_norm(conv_shaped);
  scale_g(*conv_shaped, 6);
  GRADCHECK([&](const std::vector<Tensor>& in) { return (*conv_shaped)(in[0]); },
            {testing::leaf({1}, 6), conv_shaped->param("weight_g"), conv_shaped->param("weight_v")});
}

TEST_CASE("weight_norm: data-dependent init gives unit outputs (Linear)") {
  Generator gen(11);
  auto lin = std::make_shared<nn::Linear>(6, 4);
  nn::weight_norm(lin);
  Tensor x = normal({64, 6}, 2.f, 3.f, &gen);
  Tensor y0 = (*lin)(x).detach();
  nn::weight_norm_data_init(*lin, x);
  Tensor y = (*lin)(x).detach();
  Tensor mu = y.mean({0}), var = ((y - mu) * (y - mu)).mean({0});
  CHECK(allclose(mu, zeros({4}), 0.f, 1e-4f));
  CHECK(allclose(var, ones({4}), 0.f, 1e-3f));
  Tensor var0 = ((y0 - y0.mean({0})) * (y0 - y0.mean({0}))).mean({0});
  CHECK_FALSE(allclose(var0, ones({4}), 0.f, 1e-1f));  // it was not unit before
  // The attribute read by forward already reflects the new g.
  std::vector<float> n = row_norms(lin->param("weight")), g = lin->param("weight_g").to_vector();
  for (size_t o = 0; o < n.size(); ++o) CHECK(n[o] == doctest::Approx(g[o]).epsilon(1e-5));
}

TEST_CASE("weight_norm: errors") {
  auto lin = std::make_shared<nn::Linear>(3, 2);
  CHECK_THROWS_WITH_AS(nn::weight_norm_data_init(*lin, zeros({2, 3})),
                       doctest::Contains("weight_norm_data_init: Linear has no weight_norm on 'weight'"), Error);
  CHECK_THROWS_WITH_AS(nn::weight_norm(lin, "nope"), doctest::Contains("weight_norm: Linear has no parameter 'nope'"),
                       Error);
  CHECK_THROWS_WITH_AS(nn::weight_norm(lin, "weight", 2), doctest::Contains("weight_norm: dim 2 out of range"), Error);
  nn::weight_norm(lin);
  CHECK_THROWS_WITH_AS(nn::weight_norm(lin),
                       doctest::Contains("weight_norm: Linear already has weight_norm on 'weight'"), Error);
  auto lin1 = std::make_shared<nn::Linear>(3, 2);
  nn::weight_norm(lin1, "weight", 1);
  CHECK_THROWS_WITH_AS(nn::weight_norm_data_init(*lin1, zeros({2, 3})),
                       doctest::Contains("weight_norm_data_init: Linear needs weight_norm with dim=0"), Error);
}
