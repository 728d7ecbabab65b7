// softmax, log_softmax and cross_entropy: gradchecks, PyTorch fixtures (tests/fixtures/gen_loss.py),
// huge logits, and error messages.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "core/norma.h"
#include "fixtures.h"
#include "gradcheck.h"

using namespace norma;
using namespace norma::testing;

namespace {
// CHECKs same shape and |a - b| <= atol + rtol |b| elementwise, reporting the worst element.
void check_close(const Tensor& a, const Tensor& b, float rtol, float atol, const std::string& what) {
  INFO(what);
  REQUIRE(a.shape() == b.shape());
  std::vector<float> va = a.to_vector(), vb = b.to_vector();
  double worst = 0;
  size_t at = 0;
  bool ok = true;
  for (size_t i = 0; i < va.size(); ++i) {
    double err = std::fabs(double(va[i]) - double(vb[i]));
    if (!(err <= atol + rtol * std::fabs(double(vb[i])))) ok = false;
    if (!(err <= worst)) worst = err, at = i;
  }
  INFO("worst abs err " << worst << " at element " << at);
  CHECK(ok);
}

bool all_finite(const Tensor& t) {
  for (float v : t.to_vector())
    if (!std::isfinite(v)) return false;
  return true;
}

Reduction reduction_of(const std::string& name) {
  return name == "mean" ? Reduction::Mean : name == "sum" ? Reduction::Sum : Reduction::None;
}
}  // namespace

TEST_CASE("gradcheck: softmax and log_softmax on dims 0, 1 and -1 of [3, 4, 5]") {
  for (int64_t dim : {0, 1, -1}) {
    CAPTURE(dim);
    GRADCHECK([dim](const std::vector<Tensor>& in) { return softmax(in[0], dim); }, {leaf({3, 4, 5}, 1)});
    GRADCHECK([dim](const std::vector<Tensor>& in) { return log_softmax(in[0], dim); }, {leaf({3, 4, 5}, 2)});
  }
}

TEST_CASE("gradcheck: softmax of a transposed view") {
  GRADCHECK([](const std::vector<Tensor>& in) { return softmax(in[0].t(), 1); }, {leaf({4, 3}, 3)});
  GRADCHECK([](const std::vector<Tensor>& in) { return log_softmax(in[0].t(), 0); }, {leaf({4, 3}, 4)});
}

TEST_CASE("softmax: rows sum to one and a view gives the same values as a copy") {
  Tensor x = leaf({3, 4, 5}, 5).detach();
  Tensor s = softmax(x, 1);
  Tensor rows = s.sum({1});
  for (float v : rows.to_vector()) CHECK(v == doctest::Approx(1.0).epsilon(1e-6));
  Tensor xt = x.permute({2, 0, 1});  // non-contiguous
  CHECK(allclose(softmax(xt, 2), softmax(xt.contiguous(), 2), 0.f, 0.f));
  CHECK(allclose(log_softmax(xt, 0), log_softmax(xt.contiguous(), 0), 0.f, 0.f));
}

TEST_CASE("softmax: matches PyTorch on dims 0, 1 and -1, values and gradients") {
  for (std::string fn : {"softmax", "log_softmax"}) {
    for (int dim : {0, 1, -1}) {
      const std::string kase = fn + "_dim" + std::to_string(dim);
      CAPTURE(kase);
      Tensor x = fixture_tensor("loss", kase, "x").requires_grad_();
      Tensor y = fn == "softmax" ? softmax(x, dim) : log_softmax(x, dim);
      y.backward(fixture_tensor("loss", kase, "g"));
      check_close(y, fixture_tensor("loss", kase, "out"), 1e-5f, 1e-6f, "output");
      check_close(x.grad(), fixture_tensor("loss", kase, "dx"), 1e-5f, 1e-6f, "gradient");
    }
  }
}

TEST_CASE("softmax: logits of +-1e4 stay finite and exact") {
  Tensor x = from_vector({1e4f, -1e4f, 0.f}, {1, 3}).requires_grad_();
  Tensor s = softmax(x, 1);
  CHECK(s.at({0, 0}) == 1.f);
  CHECK(s.at({0, 1}) == 0.f);
  CHECK(s.at({0, 2}) == 0.f);
  Tensor ls = log_softmax(x, -1);
  CHECK(ls.at({0, 0}) == 0.f);
  CHECK(ls.at({0, 1}) == -2e4f);
  CHECK(ls.at({0, 2}) == -1e4f);
  ls.sum().backward();
  REQUIRE(all_finite(x.grad()));
  // d/dx sum(log_softmax) = 1 - 3 softmax
  CHECK(x.grad().at({0, 0}) == doctest::Approx(-2.0));
  CHECK(x.grad().at({0, 1}) == doctest::Approx(1.0));
}

TEST_CASE("gradcheck: cross_entropy with Mean, Sum, None and label smoothing 0.1") {
  const std::vector<int64_t> labels = {0, 3, 4, 1};
  for (Reduction red : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
    for (float ls : {0.f, 0.1f}) {
      CAPTURE(int(red));
      CAPTURE(ls);
      GRADCHECK([&](const std::vector<Tensor>& in) { return cross_entropy(in[0], labels, red, ls); },
                {leaf({4, 5}, 6)});
    }
  }
}

TEST_CASE("loss: cross_entropy matches PyTorch for mean, sum and none, label smoothing 0 and 0.1, logits up to 1e4") {
  const nlohmann::json& file = fixture_file("loss");
  int cases = 0;
  for (auto it = file.begin(); it != file.end(); ++it) {
    if (it.key().rfind("ce_", 0) != 0) continue;
    const std::string& kase = it.key();
    CAPTURE(kase);
    const nlohmann::json& c = it.value();
    std::vector<int64_t> labels = c.at("labels").get<std::vector<int64_t>>();
    Tensor z = fixture_tensor("loss", kase, "logits").requires_grad_();
    Tensor loss = cross_entropy(z, labels, reduction_of(c.at("reduction")), c.at("label_smoothing").get<float>());
    loss.backward(fixture_tensor("loss", kase, "g"));
    check_close(loss, fixture_tensor("loss", kase, "loss"), 1e-5f, 1e-6f, "loss");
    check_close(z.grad(), fixture_tensor("loss", kase, "dlogits"), 1e-5f, 1e-6f, "dlogits");
    ++cases;
  }
  CHECK(cases == 12);
}

TEST_CASE("loss: cross_entropy of logits +-1e4 is finite and exact") {
  Tensor z = from_vector({1e4f, -1e4f, 0.f}, {1, 3}).requires_grad_();
  Tensor right = cross_entropy(z, {0});
  CHECK(right.item() == 0.f);
  right.backward();
  REQUIRE(all_finite(z.grad()));
  CHECK(z.grad().to_vector() == std::vector<float>{0.f, 0.f, 0.f});

  z.zero_grad();
  Tensor wrong = cross_entropy(z, {1}, Reduction::Sum);
  CHECK(wrong.item() == 2e4f);
  wrong.backward();
  REQUIRE(all_finite(z.grad()));
  CHECK(z.grad().to_vector() == std::vector<float>{1.f, -1.f, 0.f});

  // With smoothing e = 0.1 and C = 3: loss = lse - 0.9 z_y - (0.1 / 3) sum z = 1e4 - 0.9e4 - 0.
  z.zero_grad();
  Tensor smooth = cross_entropy(z, {0}, Reduction::Mean, 0.1f);
  CHECK(smooth.item() == doctest::Approx(1000.0));
  smooth.backward();
  REQUIRE(all_finite(z.grad()));
  CHECK(z.grad().at({0, 0}) == doctest::Approx(1.0 - (0.9 + 0.1 / 3)));
}

TEST_CASE("loss: cross_entropy reductions agree with each other") {
  Tensor z = leaf({5, 4}, 7).detach();
  std::vector<int64_t> labels = {3, 0, 0, 2, 1};
  Tensor none = cross_entropy(z, labels, Reduction::None);
  REQUIRE(none.shape() == Shape{5});
  CHECK(cross_entropy(z, labels, Reduction::Sum).item() == doctest::Approx(none.sum().item()).epsilon(1e-6));
  CHECK(cross_entropy(z, labels, Reduction::Mean).item() == doctest::Approx(none.sum().item() / 5).epsilon(1e-6));
  // Each per-sample loss is -log_softmax at the label.
  Tensor lsm = log_softmax(z, 1);
  for (int64_t i = 0; i < 5; ++i) CHECK(none.at({i}) == doctest::Approx(-lsm.at({i, labels[size_t(i)]})).epsilon(1e-6));
}

TEST_CASE("loss: cross_entropy and softmax error messages") {
  CHECK_THROWS_WITH_AS(cross_entropy(zeros({4, 10}), {1, 2, 3}),
                       doctest::Contains("cross_entropy: 3 labels for logits of shape [4, 10]"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy(zeros({4, 10}), {0, 1, 12, 3}),
                       doctest::Contains("cross_entropy: label 12 at position 2 is out of range for 10 classes"),
                       Error);
  CHECK_THROWS_WITH_AS(cross_entropy(zeros({2, 10}), {0, -1}),
                       doctest::Contains("cross_entropy: label -1 at position 1 is out of range for 10 classes"),
                       Error);
  CHECK_THROWS_WITH_AS(cross_entropy(zeros({2, 3, 4}), {0, 1}),
                       doctest::Contains("cross_entropy: expected logits [N, C], got [2, 3, 4]"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy(zeros({2, 3}), {0, 1}, Reduction::Mean, 1.5f),
                       doctest::Contains("cross_entropy: label_smoothing must be in [0, 1], got 1.5"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy(zeros({2, 3}), {0, 1}, Reduction::Mean, -0.25f),
                       doctest::Contains("got -0.25"), Error);
  CHECK_THROWS_WITH_AS(softmax(zeros({2, 3}), 2), doctest::Contains("softmax: dim 2 out of range"), Error);
  CHECK_THROWS_WITH_AS(log_softmax(zeros({2, 3}), -3), doctest::Contains("log_softmax: dim -3 out of range"), Error);
}
