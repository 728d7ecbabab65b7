// Autograd semantics: accumulation, shared subexpressions, NoGradGuard, detach, explicit and
// implicit seeds, retain_graph, release of the graph, deep chains, and their error messages.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "core/norma.h"
#include "gradcheck.h"

using namespace norma;
using namespace norma::testing;

namespace {
Tensor vec(std::vector<float> v) {
  Shape s{int64_t(v.size())};
  return from_vector(v, s);
}
std::vector<float> values(const Tensor& t) { return t.to_vector(); }
}  // namespace

TEST_CASE("autograd: gradients accumulate across backward calls until zero_grad") {
  Tensor x = vec({1.f, 2.f, 3.f}).requires_grad_();
  CHECK_FALSE(x.grad().defined());
  (x * 2.f).sum().backward();
  CHECK(values(x.grad()) == std::vector<float>{2.f, 2.f, 2.f});
  (x * x).sum().backward();  // + 2x
  CHECK(values(x.grad()) == std::vector<float>{4.f, 6.f, 8.f});
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
  (x * 3.f).sum().backward();
  CHECK(values(x.grad()) == std::vector<float>{3.f, 3.f, 3.f});
}

TEST_CASE("autograd: accumulating a non-contiguous gradient into a leaf") {
  // permute's backward hands the leaf a transposed (strided) gradient; the second backward
  // adds it into the existing one.
  Tensor x = from_vector({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, {2, 3}).requires_grad_();
  Tensor w = from_vector({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, {3, 2});
  for (int rep = 0; rep < 2; ++rep) (x.t() * w).sum().backward();
  // d/dx[i, j] of sum(x[j, i]^T * w[j, i]) = w[j, i], twice.
  CHECK(values(x.grad()) == std::vector<float>{2.f, 6.f, 10.f, 4.f, 8.f, 12.f});
  CHECK(x.grad().is_contiguous());
}

TEST_CASE("autograd: shared subexpressions sum their gradients") {
  Tensor x = vec({1.f, -2.f, 3.f}).requires_grad_();
  SUBCASE("y = x * x gives 2x") {
    (x * x).sum().backward();
    CHECK(values(x.grad()) == std::vector<float>{2.f, -4.f, 6.f});
  }
  SUBCASE("a = 2x, b = 3x, y = a + b gives 5") {
    Tensor a = x * 2.f, b = x * 3.f;
    (a + b).sum().backward();
    CHECK(values(x.grad()) == std::vector<float>{5.f, 5.f, 5.f});
  }
  SUBCASE("y = x + x gives 2 (one gradient tensor sent to both inputs)") {
    (x + x).sum().backward();
    CHECK(values(x.grad()) == std::vector<float>{2.f, 2.f, 2.f});
  }
  SUBCASE("an intermediate used twice: h = 3x, y = h * h + h gives 18x + 3") {
    Tensor h = x * 3.f;
    (h * h + h).sum().backward();
    CHECK(values(x.grad()) == std::vector<float>{21.f, -33.f, 57.f});
  }
  SUBCASE("diamond: a = x^2, b = exp(a), c = a * b, y = c + a") {
    GRADCHECK(
        [](const std::vector<Tensor>& in) {
          Tensor a = square(in[0] * 0.5f);
          Tensor b = exp(a);
          return a * b + a - b;
        },
        {leaf({2, 3}, 4)});
  }
}

TEST_CASE("autograd: one tensor used by two ops whose gradients sum through broadcasting") {
  // x [3] is broadcast against w [2, 3] in one op and used at its own shape in another:
  // loss = sum(x * w) + sum((x - 1)^2);  dx_j = sum_i w[i, j] + 2 (x_j - 1)
  Tensor x = vec({1.f, 2.f, 3.f}).requires_grad_();
  Tensor w = from_vector({1.f, 2.f, 3.f, 10.f, 20.f, 30.f}, {2, 3}).requires_grad_();
  Tensor b = x - 1.f;
  ((x * w).sum() + (b * b).sum()).backward();
  CHECK(values(x.grad()) == std::vector<float>{11.f, 24.f, 37.f});
  CHECK(values(w.grad()) == std::vector<float>{1.f, 2.f, 3.f, 1.f, 2.f, 3.f});
  // Broadcast on both sides at once: [3, 1] + [1, 3] and [3, 1] * [3].
  Tensor c = from_vector({1.f, 2.f, 3.f}, {3, 1}).requires_grad_();
  GRADCHECK(
      [](const std::vector<Tensor>& in) {
        Tensor r = in[0].reshape({1, 3});
        return (in[0] + r) * in[1] + in[0] * in[1].reshape({3}) + r;
      },
      (std::vector<Tensor>{c, leaf({3, 1}, 5)}));
}

TEST_CASE("autograd: an adopted first gradient is never shared with another tensor") {
  // A leaf's first gradient is adopted when nothing else can reach its buffer, and copied
  // otherwise; later backward passes add into it in place, so any sharing would show here.
  Tensor a = from_vector({1, -2, 3}, {3}).requires_grad_(), b = from_vector({4, 5, -6}, {3}).requires_grad_();
  Tensor c = from_vector({1, 2, 3}, {3}).requires_grad_();
  Tensor g = from_vector({1, 1, 1}, {3});
  Tensor y = add(add(a, b), relu(c));  // add hands one tensor to a and b; relu's is its own
  y.backward(g, /*retain_graph=*/true);
  y.backward(g);
  CHECK(a.grad().to_vector() == std::vector<float>{2, 2, 2});
  CHECK(b.grad().to_vector() == std::vector<float>{2, 2, 2});
  CHECK(c.grad().to_vector() == std::vector<float>{2, 2, 2});
  CHECK(g.to_vector() == std::vector<float>{1, 1, 1});  // the caller's gradient is untouched
  // A leaf that is the root: the caller's gradient is copied, never adopted.
  Tensor x = from_vector({1, 2}, {2}).requires_grad_(), gx = from_vector({3, 4}, {2});
  x.backward(gx);
  x.backward(gx);
  CHECK(x.grad().to_vector() == std::vector<float>{6, 8});
  CHECK(gx.to_vector() == std::vector<float>{3, 4});
}

TEST_CASE("autograd: NoGradGuard stops recording and restores the mode") {
  Tensor x = vec({1.f, 2.f}).requires_grad_();
  CHECK(grad_mode_enabled());
  {
    NoGradGuard ng;
    CHECK_FALSE(grad_mode_enabled());
    Tensor y = x * 2.f + x;
    CHECK_FALSE(y.requires_grad());
    CHECK(y.grad_fn() == nullptr);
    CHECK(values(y) == std::vector<float>{3.f, 6.f});
    {
      NoGradGuard nested;
      CHECK_FALSE(grad_mode_enabled());
    }
    CHECK_FALSE(grad_mode_enabled());  // the inner guard restores "off", not "on"
  }
  CHECK(grad_mode_enabled());
  Tensor z = x * 2.f;
  CHECK(z.requires_grad());
  CHECK(z.grad_fn() != nullptr);
}

TEST_CASE("autograd: detach cuts the graph and shares storage") {
  Tensor x = vec({1.f, 2.f, 3.f}).requires_grad_();
  Tensor y = x * 2.f;
  Tensor d = y.detach();
  CHECK_FALSE(d.requires_grad());
  CHECK(d.is_leaf());
  CHECK(d.data() == y.data());
  d.set({0}, 42.f);  // same buffer: visible through y
  CHECK(y.at({0}) == 42.f);
  // z = 3 * detach(2x) + x: only the last term reaches x.
  (d * 3.f + x).sum().backward();
  CHECK(values(x.grad()) == std::vector<float>{1.f, 1.f, 1.f});
}

TEST_CASE("autograd: zero_grad drops the gradient") {
  Tensor x = vec({1.f, 2.f}).requires_grad_();
  (x * x).sum().backward();
  REQUIRE(x.grad().defined());
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
  x.set_grad(vec({7.f, 8.f}));
  (x * 1.f).sum().backward();  // accumulates into the gradient that was set
  CHECK(values(x.grad()) == std::vector<float>{8.f, 9.f});
  CHECK_THROWS_WITH_AS(x.set_grad(vec({1.f})), doctest::Contains("set_grad: gradient of shape [1]"), norma::Error);
}

TEST_CASE("autograd: backward with an explicit gradient") {
  Tensor x = from_vector({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, {2, 3}).requires_grad_();
  Tensor g = from_vector({1.f, 0.f, -1.f, 2.f, 0.5f, 0.f}, {2, 3});
  Tensor y = x * x;
  y.backward(g);  // dx = 2 x g
  CHECK(values(x.grad()) == std::vector<float>{2.f, 0.f, -6.f, 16.f, 5.f, 0.f});
  // A leaf root takes the gradient as is.
  Tensor l = vec({1.f, 2.f}).requires_grad_();
  l.backward(vec({3.f, 4.f}));
  CHECK(values(l.grad()) == std::vector<float>{3.f, 4.f});
}

TEST_CASE("autograd: backward error messages") {
  Tensor x = zeros({2, 3}).requires_grad_();
  Tensor y = x * 2.f;
  CHECK_THROWS_WITH_AS(y.backward(),
                       "backward: implicit gradient needs a one-element tensor, got shape [2, 3] (pass a gradient)",
                       norma::Error);
  CHECK_THROWS_WITH_AS(y.backward(zeros({3, 2})),
                       "backward: gradient of shape [3, 2] given for a tensor of shape [2, 3]", norma::Error);
  CHECK_THROWS_WITH_AS(zeros({1}).backward(), doctest::Contains("backward: the tensor does not require grad"),
                       norma::Error);
  CHECK_THROWS_WITH_AS(y.requires_grad_(), doctest::Contains("requires_grad_: only leaf tensors"), norma::Error);
  CHECK_THROWS_WITH_AS(y.requires_grad_(false), doctest::Contains("was made by 'mul_scalar'"), norma::Error);
  // A leaf may switch it off and on.
  x.requires_grad_(false);
  CHECK_FALSE(x.requires_grad());
  CHECK_FALSE((x * 2.f).requires_grad());
}

TEST_CASE("autograd: backward twice needs retain_graph") {
  Tensor x = vec({1.f, 2.f}).requires_grad_();
  SUBCASE("released after the first backward") {
    Tensor y = (x * x).sum();
    y.backward();
    CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("already released"), norma::Error);
    CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("retain_graph=true"), norma::Error);
    CHECK(values(x.grad()) == std::vector<float>{2.f, 4.f});
  }
  SUBCASE("retain_graph=true keeps it and the gradients double") {
    Tensor y = (x * x).sum();
    y.backward(true);
    CHECK(values(x.grad()) == std::vector<float>{2.f, 4.f});
    y.backward(true);
    CHECK(values(x.grad()) == std::vector<float>{4.f, 8.f});
    y.backward();  // the last one may release
    CHECK(values(x.grad()) == std::vector<float>{6.f, 12.f});
    CHECK_THROWS_AS(y.backward(), norma::Error);
  }
}

TEST_CASE("autograd: the graph is released after backward") {
  Tensor x = vec({1.f, 2.f, 3.f}).requires_grad_();
  const long before = x.impl_ptr().use_count();
  Tensor y = x * x;  // mul's closure captures x twice; its edges point at x too
  CHECK(x.impl_ptr().use_count() > before);
  REQUIRE(y.grad_fn() != nullptr);
  CHECK(y.grad_fn()->backward != nullptr);
  CHECK(y.grad_fn()->next.size() == 2);
  y.sum().backward();
  CHECK(x.impl_ptr().use_count() == before);
  CHECK(y.grad_fn()->backward == nullptr);
  CHECK(y.grad_fn()->next.empty());
  CHECK(y.grad_fn()->name == "mul");

  // retain_graph keeps the closure and its captures.
  Tensor z = x * x;
  z.sum().backward(true);
  CHECK(x.impl_ptr().use_count() > before);
  CHECK(z.grad_fn()->backward != nullptr);
}

TEST_CASE("autograd: a chain of 10000 ops back-propagates without deep recursion") {
  // y = x * c + 0, repeated n times (2n nodes): dy/dx = c^n.
  const int n = 10000;
  const float c = 1.0001f;
  Tensor x = full({2}, 1.f).requires_grad_();
  Tensor y = x;
  for (int i = 0; i < n; ++i) y = y * c + 0.f;
  y.sum().backward();
  const double want = std::pow(double(c), n);
  for (float v : values(x.grad())) CHECK(v == doctest::Approx(want).epsilon(1e-3));
  for (float v : values(y)) CHECK(v == doctest::Approx(want).epsilon(1e-3));
}

TEST_CASE("autograd: a deep graph that is never back-propagated is freed without deep recursion") {
  // Dropping the only handle to a 20000-node chain (retained, or never used) must not
  // recurse once per node through the Node destructors.
  Tensor x = full({1}, 1.f).requires_grad_();
  const long before = x.impl_ptr().use_count();
  {
    Tensor y = x;
    for (int i = 0; i < 10000; ++i) y = exp(y * 0.f);  // exp captures out, mul_scalar nothing
  }
  {
    Tensor y = x;
    for (int i = 0; i < 10000; ++i) y = y * x;  // y = x^10001; each mul captures the previous output and x
    y.sum().backward(true);                     // retained: the graph is still whole here
    CHECK(x.grad().item() == doctest::Approx(10001.f));
  }
  CHECK(x.impl_ptr().use_count() == before);
}
