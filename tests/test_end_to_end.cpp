// End to end: a 2-layer MLP written with core ops only (matmul, add, maximum as relu,
// cross_entropy) and hand-written SGD fits the two-spirals set (data/spirals.h).
#include <doctest/doctest.h>

#include <cmath>

#include "core/norma.h"
#include "data/spirals.h"

using namespace norma;

TEST_CASE("end to end: a 2-64-2 MLP with manual SGD fits two spirals to >= 95% training accuracy") {
  data::Spirals data = data::make_spirals(100, 2, 0.05f, 0);  // 200 points
  REQUIRE(data.features.shape() == Shape{200, 2});
  REQUIRE(data.labels.size() == 200);

  Generator gen(1);
  const int64_t hidden = 64;
  Tensor w1 = randn({2, hidden}, &gen).requires_grad_();
  Tensor b1 = uniform({hidden}, -1.f, 1.f, &gen).requires_grad_();  // spread the relu kinks over the data
  Tensor w2 = mul(randn({hidden, 2}, &gen), 1.f / std::sqrt(float(hidden))).requires_grad_();
  Tensor b2 = zeros({2}).requires_grad_();
  auto forward = [&](const Tensor& x) {
    Tensor h = maximum(add(matmul(x, w1), b1), scalar_tensor(0.f));  // relu
    return add(matmul(h, w2), b2);
  };

  const float lr = 1.f;
  float first_loss = 0, last_loss = 0;
  for (int step = 0; step < 800; ++step) {
    Tensor loss = cross_entropy(forward(data.features), data.labels);
    loss.backward();
    if (step == 0) first_loss = loss.item();
    last_loss = loss.item();
    NoGradGuard no_grad;
    for (Tensor p : {w1, b1, w2, b2}) {
      REQUIRE(p.grad().defined());
      p.copy_(sub(p, mul(p.grad(), lr)));  // p -= lr * grad
      p.zero_grad();
    }
  }

  NoGradGuard no_grad;
  std::vector<float> z = forward(data.features).to_vector();
  int right = 0;
  for (size_t i = 0; i < data.labels.size(); ++i) right += int64_t(z[2 * i + 1] > z[2 * i]) == data.labels[i];
  const double acc = double(right) / double(data.labels.size());
  INFO("loss " << first_loss << " -> " << last_loss << ", training accuracy " << acc);
  CHECK(last_loss < 0.5f * first_loss);
  CHECK(acc >= 0.95);
}

TEST_CASE("data: make_spirals is deterministic, labelled class by class, and within the unit disk") {
  data::Spirals a = data::make_spirals(50, 3, 0.1f, 7), b = data::make_spirals(50, 3, 0.1f, 7);
  REQUIRE(a.features.shape() == Shape{150, 2});
  CHECK(equal(a.features, b.features));
  CHECK(a.labels == b.labels);
  CHECK(!equal(a.features, data::make_spirals(50, 3, 0.1f, 8).features));
  for (int64_t i = 0; i < 150; ++i) {
    CHECK(a.labels[size_t(i)] == i / 50);
    float x = a.features.at({i, 0}), y = a.features.at({i, 1});
    CHECK(x * x + y * y <= 1.f + 1e-5f);
  }
  CHECK_THROWS_WITH_AS(data::make_spirals(0, 2, 0.f, 0), doctest::Contains("make_spirals: expected at least 1 point"),
                       Error);
}
