// Binary elementwise ops: forward values, gradchecks (same shapes and broadcasting both ways),
// scalar forms and operators, comparisons, tie and error behaviour, and a comparison with
// PyTorch from tests/fixtures/elementwise.json.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <map>
#include <string>

#include "core/norma.h"
#include "fixtures.h"
#include "gradcheck.h"

using namespace norma;
using namespace norma::testing;

namespace {
using BinaryFn = std::function<Tensor(const Tensor&, const Tensor&)>;

const std::map<std::string, BinaryFn>& binary_ops() {
  static const std::map<std::string, BinaryFn> ops = {
      {"add", [](const Tensor& a, const Tensor& b) { return add(a, b); }},
      {"sub", [](const Tensor& a, const Tensor& b) { return sub(a, b); }},
      {"mul", [](const Tensor& a, const Tensor& b) { return mul(a, b); }},
      {"div", [](const Tensor& a, const Tensor& b) { return div(a, b); }},
      {"pow", [](const Tensor& a, const Tensor& b) { return pow(a, b); }},
      {"maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); }},
      {"minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); }},
  };
  return ops;
}

Tensor vec(std::vector<float> v) {
  Shape s{int64_t(v.size())};
  return from_vector(v, s);
}

std::vector<float> values(const Tensor& t) { return t.to_vector(); }

// Leaves suited to each op: a positive base for pow, a divisor away from zero for div.
Tensor lhs(const std::string& op, const Shape& s, uint64_t seed) {
  if (op == "pow") {
    Generator g(seed);
    return uniform(s, 0.5f, 2.f, &g).requires_grad_();
  }
  return leaf(s, seed);
}
Tensor rhs(const std::string& op, const Shape& s, uint64_t seed) {
  if (op == "div") return leaf_away_from(s, {0.f}, 0.3f, seed);
  return leaf(s, seed + 100);
}
}  // namespace

TEST_CASE("elementwise: forward values") {
  Tensor a = vec({1.f, -2.f, 3.f, 0.5f});
  Tensor b = vec({4.f, 2.f, -1.f, 0.5f});
  CHECK(values(add(a, b)) == std::vector<float>{5.f, 0.f, 2.f, 1.f});
  CHECK(values(sub(a, b)) == std::vector<float>{-3.f, -4.f, 4.f, 0.f});
  CHECK(values(mul(a, b)) == std::vector<float>{4.f, -4.f, -3.f, 0.25f});
  CHECK(values(div(a, b)) == std::vector<float>{0.25f, -1.f, -3.f, 1.f});
  CHECK(values(maximum(a, b)) == std::vector<float>{4.f, 2.f, 3.f, 0.5f});
  CHECK(values(minimum(a, b)) == std::vector<float>{1.f, -2.f, -1.f, 0.5f});
  CHECK(values(pow(vec({2.f, 9.f, 4.f}), vec({3.f, 0.5f, -1.f}))) == std::vector<float>{8.f, 3.f, 0.25f});
  // Operators.
  CHECK(values(a + b) == values(add(a, b)));
  CHECK(values(a - b) == values(sub(a, b)));
  CHECK(values(a * b) == values(mul(a, b)));
  CHECK(values(a / b) == values(div(a, b)));
}

TEST_CASE("elementwise: broadcasting forward") {
  // [3, 1] + [4] -> [3, 4]: out[i, j] = a[i] + b[j]
  Tensor a = from_vector({0.f, 10.f, 20.f}, {3, 1});
  Tensor b = vec({1.f, 2.f, 3.f, 4.f});
  Tensor c = a + b;
  REQUIRE(c.shape() == Shape{3, 4});
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 4; ++j) CHECK(c.at({i, j}) == 10.f * float(i) + float(j + 1));
  // A 0-d tensor broadcasts against anything.
  Tensor s = scalar_tensor(2.f);
  CHECK((s * b).shape() == Shape{4});
  CHECK(values(s * b) == std::vector<float>{2.f, 4.f, 6.f, 8.f});
  CHECK(values(b - s) == std::vector<float>{-1.f, 0.f, 1.f, 2.f});
  CHECK((s + s).dim() == 0);
  // Non-contiguous inputs (a transposed view) are read through their strides.
  Tensor m = from_vector({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, {2, 3});
  CHECK(values(m.t() + zeros({3, 2})) == std::vector<float>{1.f, 4.f, 2.f, 5.f, 3.f, 6.f});
}

TEST_CASE("elementwise: broadcast error names the op and both shapes") {
  CHECK_THROWS_WITH_AS(add(zeros({2, 3}), zeros({4})), "add: cannot broadcast [2, 3] with [4]", norma::Error);
  CHECK_THROWS_WITH_AS(mul(zeros({2, 3}), zeros({3, 3})), doctest::Contains("mul: cannot broadcast [2, 3] with [3, 3]"),
                       norma::Error);
  CHECK_THROWS_WITH_AS(maximum(zeros({5}), zeros({2, 4})), doctest::Contains("maximum: cannot broadcast"),
                       norma::Error);
  CHECK_THROWS_AS(eq(zeros({2}), zeros({3})), norma::Error);
}

TEST_CASE("gradcheck: binary ops, same shapes") {
  for (const auto& [name, op] : binary_ops()) {
    CAPTURE(name);
    BinaryFn f = op;
    GRADCHECK([f](const std::vector<Tensor>& in) { return f(in[0], in[1]); },
              (std::vector<Tensor>{lhs(name, {2, 3}, 1), rhs(name, {2, 3}, 2)}));
  }
}

TEST_CASE("gradcheck: binary ops with broadcasting") {
  // (a shape, b shape): each input stretched, missing leading dims, and a 0-d tensor.
  const std::vector<std::pair<Shape, Shape>> pairs = {
      {{3, 1, 4}, {2, 4}}, {{2, 4}, {3, 1, 4}}, {{4}, {2, 3, 4}}, {{2, 3, 4}, {4}}, {{}, {2, 3}}, {{2, 3}, {}}};
  for (const auto& [name, op] : binary_ops()) {
    for (const auto& [sa, sb] : pairs) {
      CAPTURE(name);
      CAPTURE(shape_str(sa));
      CAPTURE(shape_str(sb));
      BinaryFn f = op;
      GRADCHECK([f](const std::vector<Tensor>& in) { return f(in[0], in[1]); },
                (std::vector<Tensor>{lhs(name, sa, 3), rhs(name, sb, 4)}));
    }
  }
}

TEST_CASE("gradcheck: only the input that requires grad gets one") {
  Tensor a = leaf({2, 3}, 1);
  Tensor b = leaf_away_from({3}, {0.f}, 0.3f, 2).detach();  // a constant
  GRADCHECK([b](const std::vector<Tensor>& in) { return div(in[0], b) * b + pow(in[0] * in[0] + 0.5f, b); }, {a});
  Tensor c = leaf({3}, 3);
  (a.detach() * c).sum().backward();
  CHECK(c.grad().defined());
  CHECK(c.grad().shape() == Shape{3});
}

TEST_CASE("elementwise: scalar forms and operators") {
  Tensor a = vec({1.f, -2.f, 4.f});
  CHECK(values(add(a, 1.5f)) == std::vector<float>{2.5f, -0.5f, 5.5f});
  CHECK(values(sub(a, 1.f)) == std::vector<float>{0.f, -3.f, 3.f});
  CHECK(values(rsub(1.f, a)) == std::vector<float>{0.f, 3.f, -3.f});
  CHECK(values(mul(a, -2.f)) == std::vector<float>{-2.f, 4.f, -8.f});
  CHECK(values(div(a, 4.f)) == std::vector<float>{0.25f, -0.5f, 1.f});
  CHECK(values(rdiv(2.f, a)) == std::vector<float>{2.f, -1.f, 0.5f});
  CHECK(values(pow(a, 2.f)) == std::vector<float>{1.f, 4.f, 16.f});
  CHECK(values(pow(vec({4.f, 9.f}), 0.5f)) == std::vector<float>{2.f, 3.f});
  CHECK(values(a + 1.5f) == values(add(a, 1.5f)));
  CHECK(values(1.5f + a) == values(add(a, 1.5f)));
  CHECK(values(a - 1.f) == values(sub(a, 1.f)));
  CHECK(values(1.f - a) == values(rsub(1.f, a)));
  CHECK(values(a * -2.f) == values(mul(a, -2.f)));
  CHECK(values(-2.f * a) == values(mul(a, -2.f)));
  CHECK(values(a / 4.f) == values(div(a, 4.f)));
  CHECK(values(2.f / a) == values(rdiv(2.f, a)));
}

TEST_CASE("gradcheck: scalar forms") {
  using Fn = std::function<Tensor(const Tensor&)>;
  const std::vector<std::pair<std::string, Fn>> ops = {
      {"add", [](const Tensor& x) { return add(x, 1.5f); }},
      {"sub", [](const Tensor& x) { return sub(x, 1.5f); }},
      {"rsub", [](const Tensor& x) { return rsub(1.5f, x); }},
      {"mul", [](const Tensor& x) { return mul(x, -3.f); }},
      {"div", [](const Tensor& x) { return div(x, 3.f); }},
      {"rdiv", [](const Tensor& x) { return rdiv(2.f, x); }},
      {"pow 3", [](const Tensor& x) { return pow(x, 3.f); }},
      {"pow 0", [](const Tensor& x) { return pow(x, 0.f); }},
      {"operators", [](const Tensor& x) { return (2.f - x) * 3.f + 1.f / x - x / 2.f + (x - 1.f) + (4.f + x); }},
  };
  for (const auto& [name, f] : ops) {
    CAPTURE(name);
    GRADCHECK([f](const std::vector<Tensor>& in) { return f(in[0]); }, {leaf_away_from({2, 3}, {0.f}, 0.3f, 5)});
  }
  // Fractional exponent: positive base.
  Generator g(3);
  GRADCHECK([](const std::vector<Tensor>& in) { return pow(in[0], -1.5f); },
            {uniform({2, 3}, 0.5f, 2.f, &g).requires_grad_()});
}

TEST_CASE("elementwise: comparisons give 0/1 and are not recorded") {
  Tensor a = vec({1.f, 2.f, 3.f});
  Tensor b = vec({2.f, 2.f, 2.f});
  CHECK(values(eq(a, b)) == std::vector<float>{0.f, 1.f, 0.f});
  CHECK(values(ne(a, b)) == std::vector<float>{1.f, 0.f, 1.f});
  CHECK(values(lt(a, b)) == std::vector<float>{1.f, 0.f, 0.f});
  CHECK(values(le(a, b)) == std::vector<float>{1.f, 1.f, 0.f});
  CHECK(values(gt(a, b)) == std::vector<float>{0.f, 0.f, 1.f});
  CHECK(values(ge(a, b)) == std::vector<float>{0.f, 1.f, 1.f});
  CHECK(values(eq(a, 2.f)) == std::vector<float>{0.f, 1.f, 0.f});
  CHECK(values(ne(a, 2.f)) == std::vector<float>{1.f, 0.f, 1.f});
  CHECK(values(lt(a, 2.f)) == std::vector<float>{1.f, 0.f, 0.f});
  CHECK(values(le(a, 2.f)) == std::vector<float>{1.f, 1.f, 0.f});
  CHECK(values(gt(a, 2.f)) == std::vector<float>{0.f, 0.f, 1.f});
  CHECK(values(ge(a, 2.f)) == std::vector<float>{0.f, 1.f, 1.f});
  // Broadcasting: [3, 1] against [3].
  Tensor m = lt(from_vector({1.f, 2.f, 3.f}, {3, 1}), a);
  CHECK(m.shape() == Shape{3, 3});
  CHECK(values(m) == std::vector<float>{0.f, 1.f, 1.f, 0.f, 0.f, 1.f, 0.f, 0.f, 0.f});

  Tensor x = leaf({3}, 1);
  for (const Tensor& r : {eq(x, b), ne(x, b), lt(x, b), le(x, b), gt(x, b), ge(x, b), eq(x, 0.f), ne(x, 0.f),
                          lt(x, 0.f), le(x, 0.f), gt(x, 0.f), ge(x, 0.f)}) {
    CHECK_FALSE(r.requires_grad());
    CHECK(r.grad_fn() == nullptr);
  }
}

TEST_CASE("elementwise: maximum and minimum ties split the gradient") {
  Tensor a = vec({1.f, 2.f, 5.f}).requires_grad_();
  Tensor b = vec({1.f, 3.f, 4.f}).requires_grad_();
  maximum(a, b).sum().backward();
  CHECK(values(a.grad()) == std::vector<float>{0.5f, 0.f, 1.f});
  CHECK(values(b.grad()) == std::vector<float>{0.5f, 1.f, 0.f});
  a.zero_grad();
  b.zero_grad();
  minimum(a, b).sum().backward();
  CHECK(values(a.grad()) == std::vector<float>{0.5f, 1.f, 0.f});
  CHECK(values(b.grad()) == std::vector<float>{0.5f, 0.f, 1.f});
  // A broadcast scalar tied with two elements collects half of each.
  Tensor s = scalar_tensor(2.f).requires_grad_();
  Tensor v = vec({2.f, 2.f, 1.f}).requires_grad_();
  maximum(s, v).sum().backward();
  CHECK(s.grad().item() == 2.f);
  CHECK(values(v.grad()) == std::vector<float>{0.5f, 0.5f, 0.f});
}

TEST_CASE("elementwise: outputs and gradients match PyTorch with broadcasting") {
  const auto& file = fixture_file("elementwise");
  int checked = 0;
  for (const auto& [kase, data] : file.items()) {
    (void)data;
    std::string op = kase.substr(0, kase.find('/'));
    CAPTURE(kase);
    REQUIRE(binary_ops().count(op));
    Tensor a = fixture_tensor("elementwise", kase, "a").requires_grad_();
    Tensor b = fixture_tensor("elementwise", kase, "b").requires_grad_();
    Tensor g = fixture_tensor("elementwise", kase, "g");
    Tensor out = binary_ops().at(op)(a, b);
    out.backward(g);
    for (const auto& [name, got] : {std::pair<std::string, Tensor>{"out", out}, {"da", a.grad()}, {"db", b.grad()}}) {
      Tensor want = fixture_tensor("elementwise", kase, name);
      INFO(name << ": got " << got << "\nwant " << want);
      REQUIRE(got.shape() == want.shape());
      CHECK(allclose(got, want, 1e-5f, 1e-6f));
    }
    ++checked;
  }
  CHECK(checked == 28);  // 7 ops x 4 shape pairs
}
