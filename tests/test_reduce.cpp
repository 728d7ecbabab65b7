// Reductions: sum/mean/var against a naive double loop over every subset of dims, their
// gradchecks, max/min/argmax/argmin, sum_to, and PyTorch fixtures (tests/fixtures/gen_reduce.py).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/norma.h"
#include "fixtures.h"
#include "gradcheck.h"

using namespace norma;
using norma::testing::fixture_file;
using norma::testing::fixture_tensor;
using norma::testing::leaf;

namespace {

enum class Op { Sum, Mean, VarUnbiased, VarBiased };

// Reference in double: reduce x over `dims` (non-negative, any order); outputs in row-major
// order of the kept dims. var is two-pass.
std::vector<double> naive_reduce(const Tensor& x, const Shape& dims, Op op) {
  const Shape& sh = x.shape();
  const int64_t nd = x.dim();
  auto reduced = [&](int64_t d) { return dims.empty() || std::find(dims.begin(), dims.end(), d) != dims.end(); };
  Shape out_strides(size_t(nd), 0);
  int64_t out_n = 1, n = 1;
  for (int64_t d = nd - 1; d >= 0; --d) {
    if (reduced(d)) {
      n *= sh[size_t(d)];
    } else {
      out_strides[size_t(d)] = out_n;
      out_n *= sh[size_t(d)];
    }
  }
  std::vector<float> v = x.to_vector();
  auto out_index = [&](int64_t flat) {
    int64_t o = 0;
    for (int64_t d = nd - 1; d >= 0; --d) {
      o += (flat % sh[size_t(d)]) * out_strides[size_t(d)];
      flat /= sh[size_t(d)];
    }
    return o;
  };
  std::vector<double> sum(size_t(out_n), 0.0), m2(size_t(out_n), 0.0);
  for (int64_t f = 0; f < x.numel(); ++f) sum[size_t(out_index(f))] += v[size_t(f)];
  if (op == Op::Sum) return sum;
  for (double& s : sum) s /= double(n);
  if (op == Op::Mean) return sum;
  for (int64_t f = 0; f < x.numel(); ++f) {
    double dev = v[size_t(f)] - sum[size_t(out_index(f))];
    m2[size_t(out_index(f))] += dev * dev;
  }
  for (double& m : m2) m /= double(n - (op == Op::VarUnbiased ? 1 : 0));
  return m2;
}

Tensor apply(Op op, const Tensor& x, const Shape& dims, bool keepdim) {
  switch (op) {
    case Op::Sum: return sum(x, dims, keepdim);
    case Op::Mean: return mean(x, dims, keepdim);
    case Op::VarUnbiased: return var(x, dims, true, keepdim);
    case Op::VarBiased: return var(x, dims, false, keepdim);
  }
  return Tensor();
}

void check_close(const Tensor& got, const std::vector<double>& want, double rtol, double atol) {
  std::vector<float> g = got.to_vector();
  REQUIRE(g.size() == want.size());
  for (size_t i = 0; i < g.size(); ++i) {
    INFO("element " << i << ": got " << g[i] << ", want " << want[i]);
    CHECK(std::fabs(double(g[i]) - want[i]) <= atol + rtol * std::fabs(want[i]));
  }
}

void check_tensor_close(const Tensor& got, const Tensor& want, float rtol = 1e-5f, float atol = 1e-6f) {
  INFO("got " << got << "\nwant " << want);
  CHECK(allclose(got, want, rtol, atol));
}
}  // namespace

TEST_CASE("reduce: sum, mean, var over every subset of dims match a double loop") {
  Generator gen(3);
  Tensor x = randn({2, 3, 4}, &gen);
  std::vector<Shape> subsets = {{}, {0}, {1}, {2}, {0, 1}, {0, 2}, {1, 2}, {0, 1, 2}};
  for (Op op : {Op::Sum, Op::Mean, Op::VarUnbiased, Op::VarBiased})
    for (const Shape& dims : subsets)
      for (bool keepdim : {false, true}) {
        CAPTURE(int(op));
        CAPTURE(shape_str(dims));
        CAPTURE(keepdim);
        Tensor out = apply(op, x, dims, keepdim);
        Shape want_shape;
        for (int64_t d = 0; d < 3; ++d) {
          bool red = dims.empty() || std::find(dims.begin(), dims.end(), d) != dims.end();
          if (!red) want_shape.push_back(x.shape()[size_t(d)]);
          else if (keepdim) want_shape.push_back(1);
        }
        CHECK(out.shape() == want_shape);
        check_close(out, naive_reduce(x, dims, op), 1e-5, 1e-6);
      }
  // The all-dims forms give 0-d tensors.
  CHECK(sum(x).dim() == 0);
  CHECK(var(x).item() == doctest::Approx(naive_reduce(x, {}, Op::VarUnbiased)[0]).epsilon(1e-5));
  CHECK(var(x, false).item() == doctest::Approx(naive_reduce(x, {}, Op::VarBiased)[0]).epsilon(1e-5));
}

TEST_CASE("reduce: negative dims and dim errors") {
  Tensor x = randn({2, 3, 4});
  CHECK(equal(sum(x, {-1, 0}), sum(x, {0, 2})));
  CHECK(equal(var(x, {-2}, true, true), var(x, {1}, true, true)));
  CHECK(equal(x.mean({-3}), x.mean({0})));
  CHECK_THROWS_WITH_AS(sum(x, {1, -2}), doctest::Contains("sum: dim repeated in [1, -2]"), Error);
  CHECK_THROWS_WITH_AS(var(x, {0, 0}), doctest::Contains("var: dim repeated"), Error);
  CHECK_THROWS_WITH_AS(mean(x, {3}), doctest::Contains("mean: dim 3 out of range for a tensor with 3 dims"), Error);
  CHECK_THROWS_WITH_AS(var(x, {-4}), doctest::Contains("var: dim -4 out of range"), Error);
}

TEST_CASE("gradcheck: sum, mean, var over dims with and without keepdim") {
  for (Op op : {Op::Sum, Op::Mean, Op::VarUnbiased, Op::VarBiased})
    for (const Shape& dims : std::vector<Shape>{{}, {1}, {0, 2}, {-1}})
      for (bool keepdim : {false, true}) {
        CAPTURE(int(op));
        CAPTURE(shape_str(dims));
        CAPTURE(keepdim);
        GRADCHECK([&](const std::vector<Tensor>& in) { return apply(op, in[0], dims, keepdim); },
                  {leaf({2, 3, 4}, 5)});
      }
}

TEST_CASE("gradcheck: var of a non-contiguous input") {
  GRADCHECK([](const std::vector<Tensor>& in) { return var(in[0].t(), {1}, true, false); }, {leaf({4, 3}, 9)});
}

TEST_CASE("reduce: var is accurate with a large common offset") {
  // x = 1e4 + noise of variance 1e-2: E[x^2] - E[x]^2 in float would lose every digit.
  Generator gen(21);
  Tensor x = add(mul(randn({4, 256}, &gen), 0.1f), 1e4f);
  for (bool unbiased : {true, false}) {
    check_close(var(x, {1}, unbiased), naive_reduce(x, {1}, unbiased ? Op::VarUnbiased : Op::VarBiased), 1e-3, 0);
    check_close(var(x, unbiased).reshape({1}), naive_reduce(x, {}, unbiased ? Op::VarUnbiased : Op::VarBiased),
                1e-3, 0);
  }
  Tensor fx = fixture_tensor("reduce", "var_offset", "x");
  check_tensor_close(var(fx, {1}), fixture_tensor("reduce", "var_offset", "out"), 1e-3f, 0.f);
}

TEST_CASE("reduce: var with n - correction <= 0 is nan, as PyTorch") {
  Tensor one = leaf({1}, 2);
  Tensor v = var(one);
  CHECK(std::isnan(v.item()));
  CHECK(var(one, false).item() == 0.f);
  v.backward();
  CHECK(std::isnan(one.grad().item()));
  CHECK(std::isnan(var(zeros({0}), false).item()));
  CHECK(var(randn({3, 1}), {1}, true).shape() == Shape{3});
}

TEST_CASE("reduce: large reductions take the parallel path and stay exact") {
  Generator gen(8);
  Tensor x = randn({256, 200}, &gen);
  check_close(var(x, {0}), naive_reduce(x, {0}, Op::VarUnbiased), 1e-5, 1e-6);
  check_close(var(x, {1}, false), naive_reduce(x, {1}, Op::VarBiased), 1e-5, 1e-6);
  std::vector<float> v = x.to_vector();
  CHECK(max(x).item() == *std::max_element(v.begin(), v.end()));
  CHECK(min(x).item() == *std::min_element(v.begin(), v.end()));
  Tensor m = max(x, 0).values, k = argmax(x, 0);
  for (int64_t j = 0; j < 200; j += 37) {
    float best = x.at({0, j});
    int64_t arg = 0;
    for (int64_t i = 1; i < 256; ++i)
      if (x.at({i, j}) > best) best = x.at({i, j}), arg = i;
    CHECK(m.at({j}) == best);
    CHECK(k.at({j}) == float(arg));
  }
}

TEST_CASE("reduce: var matches PyTorch over dims, with gradients") {
  int cases = 0;
  for (const auto& [name, c] : fixture_file("reduce").items()) {
    if (name.rfind("var_", 0) != 0 || name == "var_offset") continue;
    CAPTURE(name);
    Tensor x = fixture_tensor("reduce", name, "x").requires_grad_();
    Shape dims = c.at("dims").get<Shape>();
    Tensor out = var(x, dims, c.at("unbiased").get<int>() != 0, c.at("keepdim").get<int>() != 0);
    check_tensor_close(out, fixture_tensor("reduce", name, "out"));
    out.backward(fixture_tensor("reduce", name, "g"));
    check_tensor_close(x.grad(), fixture_tensor("reduce", name, "dx"));
    ++cases;
  }
  CHECK(cases == 16);
}

TEST_CASE("reduce: max and min along a dim match PyTorch (values, indices, gradient)") {
  int cases = 0;
  for (const auto& [name, c] : fixture_file("reduce").items()) {
    bool is_max = name.rfind("max_dim", 0) == 0;
    if (!is_max && name.rfind("min_dim", 0) != 0) continue;
    CAPTURE(name);
    Tensor x = fixture_tensor("reduce", name, "x").requires_grad_();
    int64_t dim = c.at("dim").get<int64_t>();
    bool keepdim = c.at("keepdim").get<int>() != 0;
    ValuesIndices vi = is_max ? max(x, dim, keepdim) : min(x, dim, keepdim);
    CHECK(equal(vi.values, fixture_tensor("reduce", name, "values")));
    CHECK(equal(vi.indices, fixture_tensor("reduce", name, "indices")));
    CHECK(equal(is_max ? argmax(x, dim, keepdim) : argmin(x, dim, keepdim), vi.indices));
    vi.values.backward(fixture_tensor("reduce", name, "g"));
    CHECK(equal(x.grad(), fixture_tensor("reduce", name, "dx")));
    ++cases;
  }
  CHECK(cases == 13);
}

TEST_CASE("reduce: max and min over all share the gradient among ties, as PyTorch") {
  for (const char* name : {"max_all_ties", "min_all_ties"}) {
    CAPTURE(name);
    Tensor x = fixture_tensor("reduce", name, "x").requires_grad_();
    Tensor out = name[1] == 'a' ? max(x) : min(x);
    CHECK(out.dim() == 0);
    CHECK(equal(out, fixture_tensor("reduce", name, "out")));
    out.backward(fixture_tensor("reduce", name, "g"));
    check_tensor_close(x.grad(), fixture_tensor("reduce", name, "dx"));
  }
  Tensor x = from_vector({1, 3, 3, -1}, {2, 2}).requires_grad_();
  max(x).backward();
  CHECK(x.grad().to_vector() == std::vector<float>{0, 0.5f, 0.5f, 0});
}

TEST_CASE("gradcheck: max and min over all and along a dim") {
  // randn values: no ties within 2 eps, so the gradient goes to one element.
  Tensor x = leaf({3, 4}, 13);
  GRADCHECK([](const std::vector<Tensor>& in) { return max(in[0]); }, {x});
  GRADCHECK([](const std::vector<Tensor>& in) { return min(in[0]); }, {x});
  for (int64_t dim : {0, 1, -1})
    for (bool keepdim : {false, true}) {
      CAPTURE(dim);
      CAPTURE(keepdim);
      GRADCHECK([&](const std::vector<Tensor>& in) { return max(in[0], dim, keepdim).values; }, {x});
      GRADCHECK([&](const std::vector<Tensor>& in) { return min(in[0], dim, keepdim).values; }, {x});
    }
  GRADCHECK([](const std::vector<Tensor>& in) { return max(in[0].t(), 1).values; }, {x});
}

TEST_CASE("reduce: argmax and argmin take the first extreme, shapes follow keepdim") {
  Tensor x = from_vector({1, 7, 7, 0, -2, 4, -2, 4}, {2, 4});
  CHECK(argmax(x, 1).to_vector() == std::vector<float>{1, 1});
  CHECK(argmin(x, 1).to_vector() == std::vector<float>{3, 0});
  CHECK(argmax(x, 0).to_vector() == std::vector<float>{0, 0, 0, 1});
  CHECK(argmin(x, -2).to_vector() == std::vector<float>{1, 1, 1, 0});
  CHECK(argmax(x, 1, true).shape() == Shape{2, 1});
  CHECK(max(x, 0, true).values.shape() == Shape{1, 4});
  CHECK(min(x, 1).values.to_vector() == std::vector<float>{0, -2});
  CHECK(!argmax(leaf({3}), 0).requires_grad());
  // A 0-d tensor reduces along dim 0 to itself, as in PyTorch.
  CHECK(max(scalar_tensor(2.f), 0).values.item() == 2.f);
  CHECK(argmin(scalar_tensor(2.f), -1).item() == 0.f);
}

TEST_CASE("reduce: max and min propagate NaN") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor x = from_vector({1, nan, 3, nan, 5, 6}, {2, 3}).requires_grad_();
  CHECK(std::isnan(max(x).item()));
  CHECK(std::isnan(min(x).item()));
  ValuesIndices vi = max(x, 1);
  CHECK(std::isnan(vi.values.at({0})));
  CHECK(vi.indices.to_vector() == std::vector<float>{1, 0});
  CHECK(argmin(x, 0).to_vector() == std::vector<float>{1, 0, 0});
  max(x).backward();  // the NaNs share the gradient, as PyTorch
  CHECK(x.grad().to_vector() == std::vector<float>{0, 0.5f, 0, 0.5f, 0, 0});
}

TEST_CASE("reduce: max and min errors on empty input") {
  CHECK_THROWS_WITH_AS(max(zeros({0, 3})), doctest::Contains("max: cannot reduce an empty tensor of shape [0, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(min(zeros({2, 0}), 1), doctest::Contains("min: cannot reduce dim 1 of size 0"), Error);
  CHECK_THROWS_WITH_AS(argmax(zeros({2, 3}), 2), doctest::Contains("argmax: dim 2 out of range"), Error);
  CHECK(max(zeros({0, 3}), 1).values.shape() == Shape{0});  // other dims may be empty
}

TEST_CASE("gradcheck: sum_to") {
  GRADCHECK([](const std::vector<Tensor>& in) { return sum_to(in[0], {3, 1}); }, {leaf({2, 3, 4}, 4)});
  GRADCHECK([](const std::vector<Tensor>& in) { return sum_to(in[0], {1, 4}); }, {leaf({2, 3, 4}, 4)});
}

TEST_CASE("reduce: sum_to values and errors") {
  Tensor x = arange(24.f).reshape({2, 3, 4});
  CHECK(equal(sum_to(x, {3, 1}), sum(x, {0, 2}).reshape({3, 1})));
  CHECK(equal(sum_to(x, {4}), sum(x, {0, 1})));
  CHECK(equal(sum_to(x, {2, 3, 4}), x));
  CHECK_THROWS_WITH_AS(sum_to(x, {1, 2, 3, 4}), doctest::Contains("sum_to: cannot sum [2, 3, 4] to the longer shape"),
                       Error);
  CHECK_THROWS_WITH_AS(sum_to(x, {2, 4}), doctest::Contains("sum_to: cannot sum [2, 3, 4] to [2, 4]"), Error);
}

TEST_CASE("reduce: var(x, {d}) reduces dim d (a braced dim is not read as unbiased)") {
  Tensor x = randn({3, 4});
  CHECK(var(x, {1}).shape() == Shape{3});
  CHECK(equal(var(x, {1}), var(x, Shape{1}, true, false)));
  CHECK(var(x, true).dim() == 0);
}
