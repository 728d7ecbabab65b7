// InstanceNorm1d/2d: PyTorch fixtures (affine on/off, running statistics over 3 training steps
// then eval), gradchecks in train and eval, batch size 1, momentum unset, unbatched 1d, errors.
#include <doctest/doctest.h>

#include "layers/norm/instance_norm.h"
#include "norm_helpers.h"

using namespace norma;
using namespace norma::testing;

namespace {
// Runs m on the fixture case's x with its affine, backward with its g, compares everything.
void check_case(nn::Module& m, const std::string& k) {
  CAPTURE(k);
  const bool affine = m.has_param("weight");
  if (affine) {
    m.param("weight").copy_(norm_fixture(k, "weight"));
    m.param("bias").copy_(norm_fixture(k, "bias"));
  }
  Tensor x = norm_fixture(k, "x").requires_grad_();
  Tensor y = m(x);
  y.backward(norm_fixture(k, "g"));
  check_close(y, norm_fixture(k, "y"));
  check_close(x.grad(), norm_fixture(k, "dx"));
  if (affine) {
    check_close(m.param("weight").grad(), norm_fixture(k, "dweight"));
    check_close(m.param("bias").grad(), norm_fixture(k, "dbias"));
  }
}
}  // namespace

TEST_CASE("instance_norm: matches PyTorch, 2d with and without affine, 1d with affine") {
  auto in2 = std::make_shared<nn::InstanceNorm2d>(3, 1e-5f, 0.1f, true);
  check_case(*in2, "instance_norm2d_affine");
  auto plain = std::make_shared<nn::InstanceNorm2d>(3);
  CHECK(plain->parameters().empty());
  CHECK(plain->named_buffers().empty());
  check_case(*plain, "instance_norm2d_plain");
  auto in1 = std::make_shared<nn::InstanceNorm1d>(3, 1e-5f, 0.1f, true);
  check_case(*in1, "instance_norm1d_affine");
}

TEST_CASE("instance_norm: running statistics match PyTorch over 3 steps, then eval") {
  const std::string k = "instance_norm2d_tracking";
  auto in = std::make_shared<nn::InstanceNorm2d>(3, 1e-5f, 0.1f, true, true);
  in->param("weight").copy_(norm_fixture(k, "weight"));
  in->param("bias").copy_(norm_fixture(k, "bias"));
  for (int step = 0; step < 3; ++step) {
    CAPTURE(step);
    check_close((*in)(norm_fixture(k, "x" + std::to_string(step))), norm_fixture(k, "y" + std::to_string(step)));
  }
  check_close(in->buffer("running_mean"), norm_fixture(k, "running_mean"));
  check_close(in->buffer("running_var"), norm_fixture(k, "running_var"));
  CHECK(in->buffer("num_batches_tracked").item() == 3.f);
  Tensor running_mean = in->buffer("running_mean").clone(), running_var = in->buffer("running_var").clone();
  in->eval();
  Tensor x = norm_fixture(k, "x_eval").requires_grad_();
  Tensor y = (*in)(x);
  y.backward(norm_fixture(k, "g_eval"));
  check_close(y, norm_fixture(k, "y_eval"));
  check_close(x.grad(), norm_fixture(k, "dx_eval"));
  check_close(in->param("weight").grad(), norm_fixture(k, "dweight_eval"));
  check_close(in->param("bias").grad(), norm_fixture(k, "dbias_eval"));
  // eval leaves the running statistics alone
  CHECK(equal(in->buffer("running_mean"), running_mean));
  CHECK(equal(in->buffer("running_var"), running_var));
}

TEST_CASE("gradcheck: instance_norm train 2d affine") {
  auto in = std::make_shared<nn::InstanceNorm2d>(3, 1e-5f, 0.1f, true);
  randomize_affine(*in);
  module_gradcheck(*in, leaf({2, 3, 2, 3}, 1), {"weight", "bias"}, true);
}

TEST_CASE("gradcheck: instance_norm eval 2d affine, no running stats") {
  auto in = std::make_shared<nn::InstanceNorm2d>(3, 1e-5f, 0.1f, true);
  randomize_affine(*in, 1);
  module_gradcheck(*in, leaf({2, 3, 3, 2}, 2), {"weight", "bias"}, false);
}

TEST_CASE("gradcheck: instance_norm train and eval with running stats") {
  auto in = std::make_shared<nn::InstanceNorm2d>(2, 1e-5f, 0.1f, true, true);
  randomize_affine(*in, 2);
  for (int i = 0; i < 3; ++i) (*in)(leaf({2, 2, 3, 3}, 10 + uint64_t(i)).detach() * 2.f + 1.f);
  module_gradcheck(*in, leaf({2, 2, 3, 3}, 3), {"weight", "bias"}, true);
  module_gradcheck(*in, leaf({2, 2, 3, 3}, 4), {"weight", "bias"}, false);
}

TEST_CASE("gradcheck: instance_norm train 1d no affine") {
  auto in = std::make_shared<nn::InstanceNorm1d>(4);
  module_gradcheck(*in, leaf({2, 4, 5}, 5), {}, true);
}

TEST_CASE("instance_norm: batch size 1, running statistics use the unbiased variance") {
  auto in = std::make_shared<nn::InstanceNorm2d>(2, 1e-5f, 0.1f, true, true);
  randomize_affine(*in, 3);
  Tensor x = leaf({1, 2, 3, 3}, 6);
  Tensor y = (*in)(x);
  REQUIRE(y.shape() == Shape{1, 2, 3, 3});
  for (int64_t c = 0; c < 2; ++c) {
    double m = 0, ss = 0;
    for (int64_t i = 0; i < 9; ++i) m += x.at({0, c, i / 3, i % 3}) / 9.0;
    for (int64_t i = 0; i < 9; ++i) ss += std::pow(x.at({0, c, i / 3, i % 3}) - m, 2);
    CHECK(in->buffer("running_mean").at({c}) == doctest::Approx(0.1 * m).epsilon(1e-5));
    CHECK(in->buffer("running_var").at({c}) == doctest::Approx(0.9 + 0.1 * ss / 8.0).epsilon(1e-5));
  }
  module_gradcheck(*in, x, {"weight", "bias"}, true);
  module_gradcheck(*in, x, {"weight", "bias"}, false);
}

TEST_CASE("instance_norm: momentum unset is a cumulative average") {
  auto in = std::make_shared<nn::InstanceNorm1d>(2, 1e-5f, std::nullopt, false, true);
  Tensor a = leaf({3, 2, 4}, 7).detach(), b = leaf({3, 2, 4}, 8).detach() + 2.f;
  (*in)(a);
  (*in)(b);
  CHECK(in->buffer("num_batches_tracked").item() == 2.f);
  // running_mean = average over both batches of the per-instance means = mean over (n, l) of both
  Tensor expect = (mean(a, {0, 2}) + mean(b, {0, 2})) * 0.5f;
  check_close(in->buffer("running_mean"), expect, 1e-5f, 1e-6f);
}

TEST_CASE("instance_norm: unbatched [C, L] input in 1d") {
  auto in = std::make_shared<nn::InstanceNorm1d>(3, 1e-5f, 0.1f, true);
  randomize_affine(*in, 4);
  Tensor x = leaf({3, 6}, 9);
  Tensor y = (*in)(x);
  REQUIRE(y.shape() == Shape{3, 6});
  check_close(y, squeeze((*in)(unsqueeze(x.detach(), 0)), 0), 0.f, 0.f);
  module_gradcheck(*in, x, {"weight", "bias"}, true);
}

TEST_CASE("instance_norm: errors") {
  nn::InstanceNorm2d in2(3);
  CHECK_THROWS_WITH_AS(in2(zeros({3, 4, 4})), doctest::Contains("InstanceNorm2d: expected input [N, C, H, W], got [3, 4, 4]"),
                       Error);
  CHECK_THROWS_WITH_AS(in2(zeros({2, 4, 4, 4})), doctest::Contains("InstanceNorm2d: expected input with 3 channels"), Error);
  CHECK_THROWS_WITH_AS(in2(zeros({2, 3, 1, 1})), doctest::Contains("more than 1 spatial element"), Error);
  nn::InstanceNorm1d in1(3);
  CHECK_THROWS_WITH_AS(in1(zeros({2, 3, 4, 4})), doctest::Contains("InstanceNorm1d: expected input [N, C, L] or [C, L]"),
                       Error);
}

TEST_CASE("instance_norm: repr and state_dict") {
  nn::InstanceNorm2d in(3);
  CHECK(in.repr() == "InstanceNorm2d(3, eps=1e-05, momentum=0.1, affine=false, track_running_stats=false)");
  nn::InstanceNorm1d tracked(4, 1e-5f, std::nullopt, true, true);
  CHECK(tracked.repr() == "InstanceNorm1d(4, eps=1e-05, momentum=None, affine=true, track_running_stats=true)");
  auto sd = tracked.state_dict();
  REQUIRE(sd.size() == 5);
  CHECK(sd[2].first == "running_mean");
  CHECK(sd[3].first == "running_var");
  CHECK(sd[4].first == "num_batches_tracked");
  CHECK(sd[4].second.shape() == Shape{});
}

TEST_CASE("instance_norm: large input (threaded loops) matches sample by sample") {
  auto in = std::make_shared<nn::InstanceNorm2d>(16, 1e-5f, 0.1f, true);
  randomize_affine(*in, 5);
  check_threaded_matches_per_sample([&](const Tensor& x) { return (*in)(x); }, {6, 16, 24, 24},
                                    {in->param("weight"), in->param("bias")});
}
