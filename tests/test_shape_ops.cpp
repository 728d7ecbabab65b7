// Shape ops: the views (reshape, view, flatten, permute, transpose, squeeze, unsqueeze, expand,
// slice) and the copies (index_select, cat, pad): values, storage sharing, gradchecks, error
// messages, and PyTorch fixtures for the copies (tests/fixtures/gen_shape_ops.py).
#include <doctest/doctest.h>

#include "core/norma.h"
#include "fixtures.h"
#include "gradcheck.h"

using namespace norma;
using norma::testing::fixture_file;
using norma::testing::fixture_tensor;
using norma::testing::leaf;

namespace {
using Inputs = std::vector<Tensor>;

bool shares_storage(const Tensor& a, const Tensor& b) { return a.impl().storage == b.impl().storage; }

std::vector<float> range_values(int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = float(i);
  return v;
}
}  // namespace

// ---- views ---------------------------------------------------------------------------------

TEST_CASE("shape: reshape infers -1, views contiguous input, copies a non-contiguous one") {
  Tensor x = arange(24.f).reshape({2, 3, 4});
  Tensor r = x.reshape({4, -1});
  CHECK(r.shape() == Shape{4, 6});
  CHECK(r.to_vector() == range_values(24));
  CHECK(shares_storage(r, x));
  CHECK(x.reshape({-1}).shape() == Shape{24});
  // The transpose of [2, 3] read row-major is [0, 3, 1, 4, 2, 5].
  Tensor t = arange(6.f).reshape({2, 3}).t();
  Tensor rt = t.reshape({6});
  CHECK(rt.to_vector() == std::vector<float>{0, 3, 1, 4, 2, 5});
  CHECK(!shares_storage(rt, t));
  CHECK(reshape(scalar_tensor(3.f), {1, 1}).shape() == Shape{1, 1});
}

TEST_CASE("shape: reshape and view errors") {
  Tensor x = zeros({2, 3});
  CHECK_THROWS_WITH_AS(x.reshape({4, 2}), doctest::Contains("reshape: cannot reshape [2, 3] (6 elements) to [4, 2]"),
                       Error);
  CHECK_THROWS_WITH_AS(x.t().reshape({4, 2}), doctest::Contains("reshape: cannot reshape [3, 2] (6 elements) to [4, 2]"),
                       Error);
  CHECK_THROWS_WITH_AS(x.view({5}), doctest::Contains("view: cannot reshape [2, 3] (6 elements) to [5]"), Error);
  CHECK_THROWS_WITH_AS(x.reshape({-1, -1}), doctest::Contains("reshape: only one dim can be -1"), Error);
  CHECK_THROWS_WITH_AS(x.reshape({4, -1}), doctest::Contains("cannot reshape [2, 3] to [4, -1]"), Error);
  CHECK_THROWS_WITH_AS(x.t().view({6}), doctest::Contains("view: tensor of shape [3, 2] with strides [1, 3] is not contiguous"),
                       Error);
  CHECK(x.view({3, 2}).shape() == Shape{3, 2});
}

TEST_CASE("gradcheck: reshape, view, flatten (also of non-contiguous input)") {
  Tensor x = leaf({2, 3, 4}, 1);
  GRADCHECK([](const Inputs& in) { return in[0].reshape({4, -1}); }, {x});
  GRADCHECK([](const Inputs& in) { return in[0].permute({2, 0, 1}).reshape({-1, 3}); }, {x});
  GRADCHECK([](const Inputs& in) { return in[0].view({6, 4}); }, {x});
  GRADCHECK([](const Inputs& in) { return in[0].flatten(1); }, {x});
  GRADCHECK([](const Inputs& in) { return in[0].transpose(0, 2).flatten(); }, {x});
}

TEST_CASE("shape: flatten") {
  Tensor x = arange(24.f).reshape({2, 3, 4});
  CHECK(x.flatten().shape() == Shape{24});
  CHECK(x.flatten(1).shape() == Shape{2, 12});
  CHECK(x.flatten(0, 1).shape() == Shape{6, 4});
  CHECK(x.flatten(-2, -1).shape() == Shape{2, 12});
  CHECK(scalar_tensor(1.f).flatten().shape() == Shape{1});
  CHECK_THROWS_WITH_AS(x.flatten(2, 1), doctest::Contains("flatten: start_dim 2 comes after end_dim 1"), Error);
}

TEST_CASE("shape: permute and transpose are views with moved strides") {
  Tensor x = arange(24.f).reshape({2, 3, 4});
  Tensor p = x.permute({2, 0, 1});
  CHECK(p.shape() == Shape{4, 2, 3});
  CHECK(shares_storage(p, x));
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j)
      for (int64_t k = 0; k < 4; ++k) CHECK(p.at({k, i, j}) == x.at({i, j, k}));
  Tensor t = x.transpose(-1, 0);
  CHECK(t.shape() == Shape{4, 3, 2});
  CHECK(t.at({3, 1, 0}) == x.at({0, 1, 3}));
  x.set({0, 1, 3}, 100.f);  // writes through to the views
  CHECK(t.at({3, 1, 0}) == 100.f);
  CHECK(p.at({3, 0, 1}) == 100.f);
}

TEST_CASE("shape: permute errors") {
  Tensor x = zeros({2, 3, 4});
  CHECK_THROWS_WITH_AS(x.permute({0, 1}), doctest::Contains("permute: [0, 1] does not list the 3 dims of a tensor of shape [2, 3, 4]"),
                       Error);
  CHECK_THROWS_WITH_AS(x.permute({1, 1, 0}), doctest::Contains("permute: dim 1 repeated in [1, 1, 0]"), Error);
  CHECK_THROWS_WITH_AS(x.permute({0, 1, 3}), doctest::Contains("permute: dim 3 out of range for a tensor with 3 dims"),
                       Error);
  CHECK(scalar_tensor(4.f).transpose(0, -1).item() == 4.f);  // 0-d: nothing to swap, as PyTorch
  CHECK_THROWS_WITH_AS(zeros({2, 3}).transpose(0, 2),
                       doctest::Contains("transpose: dim 2 out of range for a tensor with 2 dims"), Error);
}

TEST_CASE("gradcheck: permute and transpose") {
  Tensor x = leaf({2, 3, 4}, 2);
  GRADCHECK([](const Inputs& in) { return in[0].permute({2, 0, 1}); }, {x});
  GRADCHECK([](const Inputs& in) { return in[0].permute({-1, 1, 0}) * 2.f; }, {x});
  GRADCHECK([](const Inputs& in) { return in[0].transpose(0, 1); }, {x});
}

TEST_CASE("shape: squeeze and unsqueeze") {
  Tensor x = arange(6.f).reshape({1, 2, 1, 3});
  CHECK(x.squeeze().shape() == Shape{2, 3});
  CHECK(x.squeeze(0).shape() == Shape{2, 1, 3});
  CHECK(x.squeeze(-2).shape() == Shape{1, 2, 3});
  CHECK(x.squeeze(1).shape() == Shape{1, 2, 1, 3});  // size 2: unchanged
  CHECK(shares_storage(x.squeeze(), x));
  CHECK(x.squeeze().to_vector() == range_values(6));
  Tensor y = arange(6.f).reshape({2, 3});
  CHECK(y.unsqueeze(0).shape() == Shape{1, 2, 3});
  CHECK(y.unsqueeze(1).shape() == Shape{2, 1, 3});
  CHECK(y.unsqueeze(-1).shape() == Shape{2, 3, 1});
  CHECK(y.unsqueeze(-3).shape() == Shape{1, 2, 3});
  CHECK(y.unsqueeze(-1).to_vector() == range_values(6));
  CHECK(y.t().unsqueeze(1).at({2, 0, 1}) == 5.f);
  CHECK(scalar_tensor(1.f).unsqueeze(0).shape() == Shape{1});
  CHECK_THROWS_WITH_AS(y.unsqueeze(3), doctest::Contains("unsqueeze: dim 3 out of range for a tensor with 3 dims"), Error);
  CHECK(scalar_tensor(1.f).squeeze(0).dim() == 0);
  CHECK_THROWS_WITH_AS(scalar_tensor(1.f).squeeze(1), doctest::Contains("squeeze: dim 1 out of range for a tensor with 0 dims"),
                       Error);
  CHECK_THROWS_WITH_AS(y.squeeze(2), doctest::Contains("squeeze: dim 2 out of range for a tensor with 2 dims"), Error);
}

TEST_CASE("gradcheck: squeeze and unsqueeze") {
  Tensor x = leaf({1, 3, 1, 2}, 3);
  GRADCHECK([](const Inputs& in) { return in[0].squeeze(); }, {x});
  GRADCHECK([](const Inputs& in) { return in[0].squeeze(2); }, {x});
  GRADCHECK([](const Inputs& in) { return in[0].unsqueeze(-1); }, {x});
  GRADCHECK([](const Inputs& in) { return in[0].squeeze().t().unsqueeze(1); }, {x});
}

TEST_CASE("shape: expand is a stride-0 view, its gradient sums") {
  Tensor x = from_vector({1, 2, 3}, {3, 1});
  Tensor e = x.expand({2, 3, 4});
  CHECK(e.shape() == Shape{2, 3, 4});
  CHECK(shares_storage(e, x));
  CHECK(e.strides()[0] == 0);
  CHECK(e.strides()[2] == 0);
  CHECK(e.at({1, 2, 3}) == 3.f);
  CHECK(x.expand({-1, 5}).shape() == Shape{3, 5});
  Tensor l = ones({3, 1}).requires_grad_();
  l.expand({2, 3, 4}).sum().backward();
  CHECK(l.grad().to_vector() == std::vector<float>{8, 8, 8});
  GRADCHECK([](const Inputs& in) { return in[0].expand({2, 3, 4}); }, {leaf({3, 1}, 4)});
  GRADCHECK([](const Inputs& in) { return in[0].expand({3, 2, 4}); }, {leaf({2, 1}, 4)});
  CHECK_THROWS_WITH_AS(zeros({3, 2, 2}).expand({3, 4, 2}), doctest::Contains("expand: cannot expand [3, 2, 2] to [3, 4, 2]"),
                       Error);
  CHECK_THROWS_WITH_AS(x.expand({3}), doctest::Contains("expand: cannot expand [3, 1] to fewer dims [3]"), Error);
  CHECK_THROWS_WITH_AS(x.expand({3, -2}), doctest::Contains("expand: cannot expand [3, 1] to [3, -2]"), Error);
}

TEST_CASE("shape: slice with step, negative start and clamping is a view") {
  Tensor x = arange(20.f).reshape({4, 5});
  Tensor s = x.slice(1, 0, 5, 2);
  CHECK(s.shape() == Shape{4, 3});
  CHECK(s.at({1, 2}) == 9.f);
  CHECK(shares_storage(s, x));
  CHECK(x.slice(0, -2, 4).to_vector() == std::vector<float>{10, 11, 12, 13, 14, 15, 16, 17, 18, 19});
  CHECK(x.slice(1, 3, 100).shape() == Shape{4, 2});     // end clamped to the size
  CHECK(x.slice(1, -100, 2).shape() == Shape{4, 2});    // start clamped to 0
  CHECK(x.slice(1, 4, 2).shape() == Shape{4, 0});       // empty
  CHECK(x.slice(-1, 1, -1, 2).to_vector() == std::vector<float>{1, 3, 6, 8, 11, 13, 16, 18});
  x.set({3, 4}, -1.f);  // writes through to the view
  CHECK(s.at({3, 2}) == -1.f);
  CHECK_THROWS_WITH_AS(x.slice(1, 0, 2, 0), doctest::Contains("slice: step must be positive, got 0"), Error);
  CHECK_THROWS_WITH_AS(x.slice(2, 0, 1), doctest::Contains("slice: dim 2 out of range for a tensor with 2 dims"), Error);
  CHECK_THROWS_WITH_AS(scalar_tensor(1.f).slice(0, 0, 1), doctest::Contains("slice: cannot slice a 0-d tensor"), Error);
}

TEST_CASE("gradcheck: slice") {
  Tensor x = leaf({4, 5}, 5);
  GRADCHECK([](const Inputs& in) { return in[0].slice(1, 0, 5, 2); }, {x});
  GRADCHECK([](const Inputs& in) { return in[0].slice(0, -3, 100); }, {x});
  GRADCHECK([](const Inputs& in) { return in[0].t().slice(0, 1, 4, 2).slice(1, 1, 3); }, {x});
}

// ---- index_select --------------------------------------------------------------------------

TEST_CASE("shape: index_select with repeats, the gradient accumulates") {
  Tensor x = arange(12.f).reshape({3, 4}).requires_grad_();
  Tensor r = index_select(x, 0, {2, 0, 2});
  CHECK(r.shape() == Shape{3, 4});
  CHECK(r.to_vector() == std::vector<float>{8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11});
  CHECK(index_select(x, -1, {3, 3}).to_vector() == std::vector<float>{3, 3, 7, 7, 11, 11});
  CHECK(index_select(x, 1, {}).shape() == Shape{3, 0});
  r.sum().backward();
  CHECK(x.grad().to_vector() == std::vector<float>{1, 1, 1, 1, 0, 0, 0, 0, 2, 2, 2, 2});
  // A non-contiguous input.
  CHECK(index_select(arange(12.f).reshape({3, 4}).t(), 1, {1}).to_vector() == std::vector<float>{4, 5, 6, 7});
}

TEST_CASE("shape: index_select matches PyTorch (values and gradient)") {
  for (const char* name : {"index_select_0", "index_select_1", "index_select_2"}) {
    CAPTURE(name);
    const auto& c = fixture_file("shape_ops").at(name);
    Tensor x = fixture_tensor("shape_ops", name, "x").requires_grad_();
    Tensor out = index_select(x, c.at("dim").get<int64_t>(), c.at("index").get<std::vector<int64_t>>());
    CHECK(equal(out, fixture_tensor("shape_ops", name, "out")));
    out.backward(fixture_tensor("shape_ops", name, "g"));
    CHECK(allclose(x.grad(), fixture_tensor("shape_ops", name, "dx"), 1e-6f, 1e-6f));
  }
}

TEST_CASE("gradcheck: index_select") {
  GRADCHECK([](const Inputs& in) { return index_select(in[0], 0, {2, 0, 2, 2}); }, {leaf({4, 3}, 6)});
  GRADCHECK([](const Inputs& in) { return index_select(in[0], 1, {4, 4, 0, 1}); }, {leaf({2, 5, 3}, 6)});
  GRADCHECK([](const Inputs& in) { return index_select(in[0].t(), -1, {1, 1}); }, {leaf({3, 4}, 6)});
}

TEST_CASE("shape: index_select errors") {
  Tensor x = zeros({2, 3});
  CHECK_THROWS_WITH_AS(index_select(x, 1, {0, 5}),
                       doctest::Contains("index_select: index 5 out of range for dim 1 (size 3) of a tensor of shape [2, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(index_select(x, 0, {-1}), doctest::Contains("index_select: index -1 out of range"), Error);
  CHECK_THROWS_WITH_AS(index_select(x, 2, {0}), doctest::Contains("index_select: dim 2 out of range for a tensor with 2 dims"),
                       Error);
  CHECK_THROWS_WITH_AS(index_select(scalar_tensor(1.f), 0, {0}), doctest::Contains("index_select: expected a tensor with at least one dim"),
                       Error);
}

// ---- cat -----------------------------------------------------------------------------------

TEST_CASE("shape: cat along dims 0 and 1, and the concat alias") {
  Tensor a = arange(6.f).reshape({2, 3}), b = arange(6.f, 9.f).reshape({1, 3}), c = arange(9.f, 15.f).reshape({2, 3});
  Tensor r0 = cat({a, b, c}, 0);
  CHECK(r0.shape() == Shape{5, 3});
  CHECK(r0.to_vector() == range_values(15));
  Tensor r1 = cat({a, arange(4.f).reshape({2, 2}), a}, 1);
  CHECK(r1.shape() == Shape{2, 8});
  CHECK(r1.to_vector() == std::vector<float>{0, 1, 2, 0, 1, 0, 1, 2, 3, 4, 5, 2, 3, 3, 4, 5});
  CHECK(equal(concat({a, b, c}), r0));
  CHECK(equal(cat({a, c}, -1), cat({a, c}, 1)));
  CHECK(cat({a.t(), c.t()}, 0).to_vector() == std::vector<float>{0, 3, 1, 4, 2, 5, 9, 12, 10, 13, 11, 14});
  CHECK(cat({a, zeros({0, 3})}).shape() == Shape{2, 3});
}

TEST_CASE("shape: cat matches PyTorch (values and gradients)") {
  for (const char* name : {"cat_0", "cat_1", "cat_2"}) {
    CAPTURE(name);
    const auto& c = fixture_file("shape_ops").at(name);
    std::vector<Tensor> xs;
    for (int k = 0; k < c.at("count").get<int>(); ++k)
      xs.push_back(fixture_tensor("shape_ops", name, "x" + std::to_string(k)).requires_grad_());
    Tensor out = cat(xs, c.at("dim").get<int64_t>());
    CHECK(equal(out, fixture_tensor("shape_ops", name, "out")));
    out.backward(fixture_tensor("shape_ops", name, "g"));
    for (size_t k = 0; k < xs.size(); ++k)
      CHECK(equal(xs[k].grad(), fixture_tensor("shape_ops", name, "dx" + std::to_string(k))));
  }
}

TEST_CASE("gradcheck: cat of 3 tensors along dims 0 and 1") {
  Inputs in = {leaf({1, 3}, 7), leaf({2, 3}, 8), leaf({3, 3}, 9)};
  GRADCHECK([](const Inputs& in) { return cat(in, 0); }, in);
  Inputs in1 = {leaf({2, 1, 2}, 7), leaf({2, 3, 2}, 8), leaf({2, 2, 2}, 9)};
  GRADCHECK([](const Inputs& in) { return cat(in, 1); }, in1);
  GRADCHECK([](const Inputs& in) { return cat({in[0].t(), in[1]}, 1); }, Inputs{leaf({2, 3}, 1), leaf({3, 4}, 2)});
}

TEST_CASE("shape: cat errors") {
  CHECK_THROWS_WITH_AS(cat({}), doctest::Contains("cat: expected a non-empty list of tensors"), Error);
  CHECK_THROWS_WITH_AS(cat({zeros({2, 5, 3}), zeros({2, 4})}, 1), doctest::Contains("cat: tensor 1 has shape [2, 4], expected [2, *, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(cat({zeros({2, 3}), zeros({2, 3}), zeros({3, 3})}, 1),
                       doctest::Contains("cat: tensor 2 has shape [3, 3], expected [2, *]"), Error);
  CHECK_THROWS_WITH_AS(cat({zeros({2, 3})}, 2), doctest::Contains("cat: dim 2 out of range for a tensor with 2 dims"), Error);
  CHECK_THROWS_WITH_AS(cat({scalar_tensor(1.f)}), doctest::Contains("cat: cannot concatenate 0-d tensors"), Error);
}

// ---- pad -----------------------------------------------------------------------------------

TEST_CASE("shape: pad with positive and negative (cropping) pads and a value") {
  Tensor x = arange(6.f).reshape({2, 3});
  CHECK(pad(x, {1, 2}).to_vector() == std::vector<float>{0, 0, 1, 2, 0, 0, 0, 3, 4, 5, 0, 0});
  Tensor p = pad(x, {0, 1, 1, 0}, -1.f);
  CHECK(p.shape() == Shape{3, 4});
  CHECK(p.to_vector() == std::vector<float>{-1, -1, -1, -1, 0, 1, 2, -1, 3, 4, 5, -1});
  CHECK(pad(x, {-1, 0}).to_vector() == std::vector<float>{1, 2, 4, 5});
  CHECK(pad(x, {-1, 1, 0, -1}, 9.f).to_vector() == std::vector<float>{1, 2, 9});
  CHECK(pad(x, {-3, 0}).shape() == Shape{2, 0});
  CHECK(equal(pad(x, {}), x));
  CHECK(pad(x.t(), {1, 0}).to_vector() == std::vector<float>{0, 0, 3, 0, 1, 4, 0, 2, 5});
}

TEST_CASE("shape: pad matches PyTorch (values and gradient)") {
  int cases = 0;
  for (const auto& [name, c] : fixture_file("shape_ops").items()) {
    if (name.rfind("pad_", 0) != 0) continue;
    CAPTURE(name);
    Tensor x = fixture_tensor("shape_ops", name, "x").requires_grad_();
    Tensor out = pad(x, c.at("pads").get<std::vector<int64_t>>(), c.at("value").get<float>());
    CHECK(equal(out, fixture_tensor("shape_ops", name, "out")));
    out.backward(fixture_tensor("shape_ops", name, "g"));
    CHECK(equal(x.grad(), fixture_tensor("shape_ops", name, "dx")));
    ++cases;
  }
  CHECK(cases == 6);
}

TEST_CASE("gradcheck: pad") {
  Tensor x = leaf({2, 3, 4}, 10);
  GRADCHECK([](const Inputs& in) { return pad(in[0], {1, 2}); }, {x});
  GRADCHECK([](const Inputs& in) { return pad(in[0], {-1, 2, 1, -1}, 0.5f); }, {x});
  GRADCHECK([](const Inputs& in) { return pad(in[0], {0, 0, 0, 0, -1, 1}); }, {x});
}

TEST_CASE("shape: pad errors") {
  Tensor x = zeros({2, 3});
  CHECK_THROWS_WITH_AS(pad(x, {1}), doctest::Contains("pad: expected (left, right) pairs, got 1 pad values"), Error);
  CHECK_THROWS_WITH_AS(pad(x, {1, 1, 1, 1, 1, 1}),
                       doctest::Contains("pad: 6 pad values for a tensor of shape [2, 3] (at most 2 per dim)"), Error);
  CHECK_THROWS_WITH_AS(pad(x, {-2, -2}), doctest::Contains("pad: padding (-2, -2) crops 4 entries from dim 1 of size 3"),
                       Error);
}
