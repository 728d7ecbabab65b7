// GroupNorm: PyTorch fixtures with 1, 2 and C groups, gradchecks, the identities
// GroupNorm(1) == LayerNorm over (C, H, W) and GroupNorm(C) == InstanceNorm2d, batch size 1,
// errors.
#include <doctest/doctest.h>

#include "layers/norm/group_norm.h"
#include "layers/norm/instance_norm.h"
#include "layers/norm/layer_norm.h"
#include "norm_helpers.h"

using namespace norma;
using namespace norma::testing;

TEST_CASE("group_norm: matches PyTorch with 1, 2 and C groups") {
  for (int64_t groups : {1, 2, 4}) {
    const std::string k = "group_norm_g" + std::to_string(groups);
    CAPTURE(k);
    auto gn = std::make_shared<nn::GroupNorm>(groups, 4);
    gn->param("weight").copy_(norm_fixture(k, "weight"));
    gn->param("bias").copy_(norm_fixture(k, "bias"));
    Tensor x = norm_fixture(k, "x").requires_grad_();
    Tensor y = (*gn)(x);
    y.backward(norm_fixture(k, "g"));
    check_close(y, norm_fixture(k, "y"));
    check_close(x.grad(), norm_fixture(k, "dx"));
    check_close(gn->param("weight").grad(), norm_fixture(k, "dweight"));
    check_close(gn->param("bias").grad(), norm_fixture(k, "dbias"));
  }
}

TEST_CASE("gradcheck: group_norm train 2 groups") {
  auto gn = std::make_shared<nn::GroupNorm>(2, 4);
  randomize_affine(*gn);
  module_gradcheck(*gn, leaf({2, 4, 2, 3}, 1), {"weight", "bias"}, true);
}

TEST_CASE("gradcheck: group_norm eval 3 groups of 2 channels, 1-d spatial") {
  auto gn = std::make_shared<nn::GroupNorm>(3, 6);
  randomize_affine(*gn, 1);
  module_gradcheck(*gn, leaf({2, 6, 3}, 2), {"weight", "bias"}, false);
}

TEST_CASE("gradcheck: group_norm train no affine, [N, C] input") {
  auto gn = std::make_shared<nn::GroupNorm>(2, 6, 1e-5f, false);
  module_gradcheck(*gn, leaf({3, 6}, 3), {}, true);
}

TEST_CASE("group_norm: 1 group equals LayerNorm over (C, H, W)") {
  const int64_t C = 3, H = 2, W = 4;
  Tensor x0 = leaf({2, C, H, W}, 4).detach() * 2.f + 1.f;
  Tensor g = leaf({2, C, H, W}, 5).detach();
  SUBCASE("unit affine") {
    auto gn = std::make_shared<nn::GroupNorm>(1, C);
    auto ln = std::make_shared<nn::LayerNorm>(Shape{C, H, W});
    Tensor x1 = x0.clone().requires_grad_(), x2 = x0.clone().requires_grad_();
    Tensor y1 = (*gn)(x1), y2 = (*ln)(x2);
    check_close(y1, y2, 1e-5f, 1e-5f);
    y1.backward(g);
    y2.backward(g);
    check_close(x1.grad(), x2.grad(), 1e-4f, 1e-5f);
  }
  SUBCASE("per-channel affine broadcast over (H, W)") {
    auto gn = std::make_shared<nn::GroupNorm>(1, C);
    randomize_affine(*gn, 6);
    auto ln = std::make_shared<nn::LayerNorm>(Shape{C, H, W});
    ln->param("weight").copy_(expand(reshape(gn->param("weight").detach(), {C, 1, 1}), {C, H, W}));
    ln->param("bias").copy_(expand(reshape(gn->param("bias").detach(), {C, 1, 1}), {C, H, W}));
    Tensor x1 = x0.clone().requires_grad_(), x2 = x0.clone().requires_grad_();
    Tensor y1 = (*gn)(x1), y2 = (*ln)(x2);
    check_close(y1, y2, 1e-5f, 1e-5f);
    y1.backward(g);
    y2.backward(g);
    check_close(x1.grad(), x2.grad(), 1e-4f, 1e-5f);
    // GroupNorm's per-channel gradients are LayerNorm's summed over (H, W).
    check_close(gn->param("weight").grad(), sum(ln->param("weight").grad(), {1, 2}), 1e-4f, 1e-5f);
    check_close(gn->param("bias").grad(), sum(ln->param("bias").grad(), {1, 2}), 1e-4f, 1e-5f);
  }
}

TEST_CASE("group_norm: C groups equals InstanceNorm2d with the same affine") {
  const int64_t C = 4;
  auto gn = std::make_shared<nn::GroupNorm>(C, C);
  auto in = std::make_shared<nn::InstanceNorm2d>(C, 1e-5f, 0.1f, true);
  randomize_affine(*gn, 7);
  in->param("weight").copy_(gn->param("weight"));
  in->param("bias").copy_(gn->param("bias"));
  Tensor x0 = leaf({2, C, 3, 3}, 8).detach() - 0.5f, g = leaf({2, C, 3, 3}, 9).detach();
  Tensor x1 = x0.clone().requires_grad_(), x2 = x0.clone().requires_grad_();
  Tensor y1 = (*gn)(x1), y2 = (*in)(x2);
  check_close(y1, y2, 1e-6f, 1e-6f);
  y1.backward(g);
  y2.backward(g);
  check_close(x1.grad(), x2.grad(), 1e-5f, 1e-6f);
  check_close(gn->param("weight").grad(), in->param("weight").grad(), 1e-5f, 1e-6f);
  check_close(gn->param("bias").grad(), in->param("bias").grad(), 1e-5f, 1e-6f);
}

TEST_CASE("group_norm: batch size 1") {
  auto gn = std::make_shared<nn::GroupNorm>(2, 4);
  randomize_affine(*gn, 3);
  Tensor x = leaf({1, 4, 3, 2}, 10);
  Tensor y = (*gn)(x);
  REQUIRE(y.shape() == Shape{1, 4, 3, 2});
  // Without affine each group of the single sample has mean 0.
  nn::GroupNorm plain(2, 4, 1e-5f, false);
  Tensor z = plain(x);
  for (int64_t grp = 0; grp < 2; ++grp) {
    double m = 0;
    for (int64_t c = 2 * grp; c < 2 * grp + 2; ++c)
      for (int64_t h = 0; h < 3; ++h)
        for (int64_t w = 0; w < 2; ++w) m += z.at({0, c, h, w}) / 12.0;
    CHECK(m == doctest::Approx(0.0).epsilon(1e-6));
  }
  module_gradcheck(*gn, x, {"weight", "bias"}, true);
  module_gradcheck(*gn, x, {"weight", "bias"}, false);
}

TEST_CASE("group_norm: errors") {
  CHECK_THROWS_WITH_AS(nn::GroupNorm(2, 5), doctest::Contains("num_channels must be divisible by num_groups"), Error);
  CHECK_THROWS_WITH_AS(nn::GroupNorm(0, 4), doctest::Contains("GroupNorm: num_groups"), Error);
  nn::GroupNorm gn(2, 4);
  CHECK_THROWS_WITH_AS(gn(zeros({2, 6, 3})), doctest::Contains("GroupNorm: expected input [N, 4, *], got [2, 6, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(gn(zeros({4})), doctest::Contains("got [4]"), Error);
  CHECK_THROWS_WITH_AS(nn::group_norm(zeros({2, 6, 3}), 4, Tensor(), Tensor()),
                       doctest::Contains("group_norm: num_channels must be divisible by num_groups"), Error);
  CHECK_THROWS_WITH_AS(nn::group_norm(zeros({2, 6, 3}), 3, ones({4}), Tensor()),
                       doctest::Contains("weight [4] must be [6]"), Error);
}

TEST_CASE("group_norm: repr and state_dict") {
  nn::GroupNorm gn(2, 4);
  CHECK(gn.repr() == "GroupNorm(2, 4, eps=1e-05, affine=true)");
  auto sd = gn.state_dict();
  REQUIRE(sd.size() == 2);
  CHECK(sd[0].first == "weight");
  CHECK(sd[1].first == "bias");
  CHECK(nn::GroupNorm(2, 4, 1e-5f, false).state_dict().empty());
}

TEST_CASE("group_norm: large input (threaded loops) matches sample by sample") {
  auto gn = std::make_shared<nn::GroupNorm>(4, 16);
  randomize_affine(*gn, 5);
  check_threaded_matches_per_sample([&](const Tensor& x) { return (*gn)(x); }, {6, 16, 24, 24},
                                    {gn->param("weight"), gn->param("bias")});
}
