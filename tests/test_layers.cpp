// The basic layers as modules: Conv2d, activations, Dropout, pooling. (The ops behind them
// have their own gradchecks and PyTorch fixtures; these check the module wiring.)
#include <doctest/doctest.h>

#include <cmath>

#include "core/norma.h"
#include "gradcheck.h"
#include "layers/activation.h"
#include "layers/containers.h"
#include "layers/conv2d.h"
#include "layers/dropout.h"
#include "layers/linear.h"
#include "layers/pooling.h"

using namespace norma;
using namespace norma::nn;

TEST_CASE("gradcheck: Conv2d module input, weight and bias") {
  manual_seed(0);
  Conv2d conv(4, 6, 3, /*stride=*/2, /*padding=*/1, /*dilation=*/1, /*groups=*/2);
  CHECK(conv.param("weight").shape() == Shape{6, 2, 3, 3});
  CHECK(conv.param("bias").shape() == Shape{6});
  GRADCHECK([&](const std::vector<Tensor>& in) { return conv(in[0]); },
            {testing::leaf({2, 4, 5, 5}), conv.param("weight"), conv.param("bias")});
  CHECK(conv(zeros({2, 4, 5, 5})).shape() == Shape{2, 6, 3, 3});
  CHECK(conv.repr() == "Conv2d(4, 6, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), groups=2)");
  Conv2d nobias(3, 8, {1, 3}, 1, 0, 1, 1, false);
  CHECK_FALSE(nobias.has_param("bias"));
  CHECK(nobias.repr() == "Conv2d(3, 8, kernel_size=(1, 3), stride=(1, 1), bias=false)");
  CHECK_THROWS_WITH_AS(Conv2d(3, 8, 3, 1, 0, 1, 2), doctest::Contains("divisible by groups=2"), Error);
}

TEST_CASE("layers: Conv2d default init is PyTorch's U(-1/sqrt(fan_in), 1/sqrt(fan_in))") {
  manual_seed(1);
  Conv2d conv(16, 32, 3);
  float bound = 1.f / std::sqrt(16.f * 9.f);
  float wmax = 0, bmax = 0;
  for (float v : conv.param("weight").to_vector()) wmax = std::max(wmax, std::fabs(v));
  for (float v : conv.param("bias").to_vector()) bmax = std::max(bmax, std::fabs(v));
  CHECK(wmax <= bound);
  CHECK(wmax > 0.95f * bound);
  CHECK(bmax <= bound);
}

TEST_CASE("layers: activation modules apply their ops") {
  Tensor x = from_vector({-2.f, -0.5f, 0.5f, 3.f}, {4});
  CHECK(equal(ReLU()(x), relu(x)));
  CHECK(equal(LeakyReLU(0.2f)(x), leaky_relu(x, 0.2f)));
  CHECK(LeakyReLU(0.2f)(x).at({0}) == doctest::Approx(-0.4f));
  CHECK(equal(Sigmoid()(x), sigmoid(x)));
  CHECK(equal(Tanh()(x), tanh(x)));
  CHECK(equal(GELU()(x), gelu(x)));
  CHECK(ReLU().num_parameters() == 0);
}

TEST_CASE("layers: Dropout drops in training and is the identity in eval") {
  manual_seed(2);
  Dropout drop(0.5f);
  Tensor x = ones({1000});
  Tensor y = drop(x);
  std::vector<float> v = y.to_vector();
  int64_t zeros_count = std::count(v.begin(), v.end(), 0.f);
  CHECK(zeros_count > 400);
  CHECK(zeros_count < 600);
  for (float e : v) CHECK((e == 0.f || e == 2.f));  // survivors scaled by 1 / (1 - p)
  drop.eval();
  CHECK(equal(drop(x), x));
  CHECK(drop.repr() == "Dropout(p=0.500000)");
  CHECK_THROWS_WITH_AS(Dropout(1.5f), doctest::Contains("Dropout: p must be in [0, 1], got 1.5"), Error);
}

TEST_CASE("layers: pooling modules and their shapes") {
  Tensor x = randn({2, 3, 8, 8});
  CHECK(MaxPool2d(2)(x).shape() == Shape{2, 3, 4, 4});
  CHECK(equal(MaxPool2d(2)(x), max_pool2d(x, 2)));
  CHECK(AvgPool2d(3, 2, 1)(x).shape() == Shape{2, 3, 4, 4});
  CHECK(AdaptiveAvgPool2d(1)(x).shape() == Shape{2, 3, 1, 1});
  CHECK(allclose(AdaptiveAvgPool2d(1)(x).reshape({2, 3}), x.mean({2, 3}), 1e-5f, 1e-6f));
  CHECK(MaxPool2d(2).repr() == "MaxPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1))");
}

TEST_CASE("layers: a small CNN trains: the loss falls on a fixed batch") {
  manual_seed(3);
  Sequential net{std::make_shared<Conv2d>(1, 4, 3, 1, 1), std::make_shared<ReLU>(), std::make_shared<MaxPool2d>(2),
                 std::make_shared<Flatten>(), std::make_shared<Linear>(4 * 4 * 4, 3)};
  Tensor x = randn({6, 1, 8, 8});
  std::vector<int64_t> y = {0, 1, 2, 0, 1, 2};
  float first = 0, last = 0;
  for (int step = 0; step < 30; ++step) {
    Tensor loss = cross_entropy(net(x), y);
    if (step == 0) first = loss.item();
    last = loss.item();
    net.zero_grad();
    loss.backward();
    NoGradGuard no_grad;
    for (Tensor& p : net.parameters()) p.copy_(p - p.grad() * 0.1f);
  }
  CHECK(last < 0.5f * first);
}
