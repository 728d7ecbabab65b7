// AdaIN: PyTorch fixture (computed by hand in torch 1.13), gradchecks with respect to content
// and style, the output's per-channel statistics, errors.
#include <doctest/doctest.h>

#include <cmath>

#include "layers/norm/adain.h"
#include "norm_helpers.h"

using namespace norma;
using namespace norma::testing;

namespace {
// Per (n, c) mean and biased standard deviation of a [N, C, H, W] tensor, as [N, C].
std::pair<Tensor, Tensor> channel_mean_std(const Tensor& x) {
  const int64_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  Tensor mu = empty({N, C}), sd = empty({N, C});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      double m = 0, v = 0;
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w) m += x.at({n, c, h, w}) / double(H * W);
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w) v += std::pow(x.at({n, c, h, w}) - m, 2) / double(H * W);
      mu.set({n, c}, float(m));
      sd.set({n, c}, float(std::sqrt(v)));
    }
  return {mu, sd};
}
}  // namespace

TEST_CASE("adain: matches PyTorch, gradients to content and style") {
  Tensor c = norm_fixture("adain", "content").requires_grad_();
  Tensor s = norm_fixture("adain", "style").requires_grad_();
  auto ada = std::make_shared<nn::AdaIN>();
  Tensor y = ada->forward(c, s);
  y.backward(norm_fixture("adain", "g"));
  check_close(y, norm_fixture("adain", "y"));
  check_close(c.grad(), norm_fixture("adain", "dcontent"));
  check_close(s.grad(), norm_fixture("adain", "dstyle"));
}

TEST_CASE("adain: output has the style's per-channel mean and std") {
  Tensor c = leaf({2, 3, 4, 5}, 1).detach() * 0.5f + 3.f;
  Tensor s = leaf({2, 3, 6, 2}, 2).detach() * 2.f - 1.f;
  Tensor y = nn::adain(c, s);
  REQUIRE(y.shape() == c.shape());
  auto [mu_y, sd_y] = channel_mean_std(y);
  auto [mu_s, sd_s] = channel_mean_std(s);
  check_close(mu_y, mu_s, 1e-4f, 1e-5f);
  // Equal up to eps: std(y) = sigma_s * sqrt(var_c / (var_c + eps)), sigma_s = sqrt(var_s + eps).
  check_close(sd_y, sd_s, 1e-3f, 1e-5f);
}

TEST_CASE("gradcheck: adain train content and style") {
  auto ada = std::make_shared<nn::AdaIN>();
  ada->train();
  GRADCHECK([&](const std::vector<Tensor>& in) { return ada->forward(in[0], in[1]); },
            (std::vector<Tensor>{leaf({2, 2, 3, 3}, 3), leaf({2, 2, 2, 4}, 4)}));
}

TEST_CASE("gradcheck: adain eval content and style, batch size 1") {
  auto ada = std::make_shared<nn::AdaIN>(1e-3f);
  ada->eval();
  GRADCHECK([&](const std::vector<Tensor>& in) { return ada->forward(in[0], in[1]); },
            (std::vector<Tensor>{leaf({1, 3, 2, 3}, 5), leaf({1, 3, 3, 3}, 6)}));
}

TEST_CASE("adain: only the style needs a gradient") {
  Tensor c = leaf({1, 2, 3, 3}, 7).detach();
  Tensor s = leaf({1, 2, 3, 3}, 8);
  nn::adain(c, s).sum().backward();
  REQUIRE(s.grad().defined());
  // sum(y) = sum over (n, c) of Sc * mu_s: d/ds = Sc / Ss = 1 everywhere.
  check_close(s.grad(), ones({1, 2, 3, 3}), 1e-5f, 1e-5f);
  CHECK_FALSE(c.grad().defined());
}

TEST_CASE("adain: errors") {
  nn::AdaIN ada;
  CHECK_THROWS_WITH_AS(ada(zeros({1, 3, 4, 4})), doctest::Contains("AdaIN: needs two inputs"), Error);
  CHECK_THROWS_WITH_AS(ada.forward(zeros({2, 3, 4, 4}), zeros({2, 4, 4, 4})),
                       doctest::Contains("got content [2, 3, 4, 4] and style [2, 4, 4, 4]"), Error);
  CHECK_THROWS_WITH_AS(ada.forward(zeros({2, 3, 4, 4}), zeros({3, 3, 4, 4})), doctest::Contains("same N and C"), Error);
  CHECK_THROWS_WITH_AS(ada.forward(zeros({3, 4, 4}), zeros({3, 4, 4})), doctest::Contains("[N, C, H, W]"), Error);
  CHECK(ada.repr() == "AdaIN(eps=1e-05)");
}

TEST_CASE("adain: large input (threaded loops) matches sample by sample") {
  // The style is a fixed function of the content here, so one leaf drives both inputs.
  auto style_of = [](const Tensor& x) { return x * 2.f + 1.f; };
  check_threaded_matches_per_sample([&](const Tensor& x) { return nn::adain(x, style_of(slice(x, 3, 0, 16))); },
                                    {6, 16, 24, 24});
}
