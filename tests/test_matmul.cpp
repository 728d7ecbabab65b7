// matmul: forward against a naive triple loop (2-D, batched, broadcast batch dims, transposed
// and strided operands), gradchecks of each, PyTorch fixtures (tests/fixtures/gen_matmul.py),
// and error messages.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "core/norma.h"
#include "fixtures.h"
#include "gradcheck.h"

using namespace norma;
using namespace norma::testing;

namespace {
// out[b, i, j] = sum_p a[b, i, p] * b[b, p, j] in double, batch dims broadcast like torch.matmul.
Tensor naive_matmul(const Tensor& a, const Tensor& b) {
  const int64_t n = a.shape()[a.dim() - 2], k = a.shape()[a.dim() - 1], m = b.shape()[b.dim() - 1];
  Shape batch = broadcast_shapes(Shape(a.shape().begin(), a.shape().end() - 2),
                                 Shape(b.shape().begin(), b.shape().end() - 2), "naive_matmul");
  Shape sa = batch, sb = batch, so = batch;
  sa.insert(sa.end(), {n, k});
  sb.insert(sb.end(), {k, m});
  so.insert(so.end(), {n, m});
  std::vector<float> va = a.detach().expand(sa).to_vector(), vb = b.detach().expand(sb).to_vector();
  std::vector<float> vo(size_t(shape_numel(so)));
  const int64_t batches = shape_numel(batch);
  for (int64_t t = 0; t < batches; ++t)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < m; ++j) {
        double s = 0;
        for (int64_t p = 0; p < k; ++p) s += double(va[size_t((t * n + i) * k + p)]) * double(vb[size_t((t * k + p) * m + j)]);
        vo[size_t((t * n + i) * m + j)] = float(s);
      }
  return from_vector(vo, so);
}

void check_close(const Tensor& a, const Tensor& b, float rtol, float atol, const std::string& what) {
  INFO(what);
  REQUIRE(a.shape() == b.shape());
  std::vector<float> va = a.to_vector(), vb = b.to_vector();
  double worst = 0;
  bool ok = true;
  for (size_t i = 0; i < va.size(); ++i) {
    double err = std::fabs(double(va[i]) - double(vb[i]));
    if (!(err <= atol + rtol * std::fabs(double(vb[i])))) ok = false;
    worst = std::max(worst, err);
  }
  INFO("worst abs err " << worst);
  CHECK(ok);
}

void check_matches_naive(const Tensor& a, const Tensor& b, const Shape& expected_shape) {
  Tensor out = matmul(a, b);
  CHECK(out.shape() == expected_shape);
  check_close(out, naive_matmul(a, b), 1e-5f, 1e-5f, shape_str(a.shape()) + " @ " + shape_str(b.shape()));
}
}  // namespace

TEST_CASE("matmul: 2-D matches a naive triple loop") {
  check_matches_naive(leaf({3, 4}, 1), leaf({4, 5}, 2), {3, 5});
  check_matches_naive(leaf({1, 7}, 3), leaf({7, 1}, 4), {1, 1});
  check_matches_naive(leaf({6, 1}, 5), leaf({1, 3}, 6), {6, 3});
  check_matches_naive(leaf({33, 17}, 7), leaf({17, 29}, 8), {33, 29});
}

TEST_CASE("matmul: batched 3-D and broadcast batch dims match a naive loop") {
  check_matches_naive(leaf({4, 3, 5}, 1), leaf({4, 5, 2}, 2), {4, 3, 2});
  check_matches_naive(leaf({2, 1, 3, 4}, 3), leaf({5, 4, 2}, 4), {2, 5, 3, 2});
  check_matches_naive(leaf({3, 4}, 5), leaf({2, 4, 6}, 6), {2, 3, 6});
  check_matches_naive(leaf({2, 3, 4}, 7), leaf({4, 6}, 8), {2, 3, 6});
}

TEST_CASE("matmul: transposed views and non-contiguous operands match a naive loop") {
  Tensor x = leaf({5, 3}, 1), y = leaf({4, 5}, 2);
  check_matches_naive(x.t(), leaf({5, 4}, 3), {3, 4});     // a transposed: sgemm's trans flag
  check_matches_naive(leaf({2, 5}, 4), y.t(), {2, 4});     // b transposed
  check_matches_naive(x.t(), y.t(), {3, 4});
  // Batched transpose of the last two dims, and strided (sliced, permuted) operands that must be copied.
  check_matches_naive(leaf({2, 5, 3}, 5).transpose(1, 2), leaf({2, 5, 4}, 6), {2, 3, 4});
  check_matches_naive(leaf({6, 4}, 7).slice(0, 0, 6, 2), leaf({4, 8}, 8).slice(1, 1, 8, 3), {3, 3});
  check_matches_naive(leaf({3, 2, 4}, 9).permute({1, 0, 2}), leaf({2, 4, 5}, 10), {2, 3, 5});
  check_matches_naive(leaf({1, 4}, 11).expand({3, 4}), leaf({4, 2}, 12), {3, 2});
}

TEST_CASE("matmul: an empty inner dim gives zeros") {
  { Tensor junk = full({3, 4}, 7.f); }  // leaves a dirty buffer of the output's size in the cache
  Tensor out = matmul(ones({3, 0}), ones({0, 4}));
  REQUIRE(out.shape() == Shape{3, 4});
  CHECK(equal(out, zeros({3, 4})));
  CHECK(matmul(ones({2, 0, 3}), ones({3, 5})).shape() == Shape{2, 0, 5});
}

TEST_CASE("gradcheck: matmul 2-D and batched") {
  GRADCHECK([](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); }, {leaf({3, 4}, 1), leaf({4, 5}, 2)});
  GRADCHECK([](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); },
            {leaf({4, 3, 5}, 3), leaf({4, 5, 2}, 4)});
}

TEST_CASE("gradcheck: matmul with broadcast batch dims sums the gradient over them") {
  GRADCHECK([](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); },
            {leaf({2, 1, 3, 4}, 1), leaf({5, 4, 2}, 2)});
  GRADCHECK([](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); }, {leaf({3, 4}, 3), leaf({2, 4, 6}, 4)});
  // The broadcast operand's gradient is the sum of the per-batch gradients.
  Tensor a = leaf({3, 4}, 5), b = leaf({2, 4, 6}, 6);
  matmul(a, b).sum().backward();
  Tensor per_batch = matmul(ones({2, 3, 6}), b.detach().transpose(1, 2)).sum({0});
  check_close(a.grad(), per_batch, 1e-5f, 1e-5f, "broadcast gradient");
}

TEST_CASE("gradcheck: matmul of transposed and non-contiguous operands") {
  GRADCHECK([](const std::vector<Tensor>& in) { return matmul(in[0].t(), in[1]); }, {leaf({5, 3}, 1), leaf({5, 4}, 2)});
  GRADCHECK([](const std::vector<Tensor>& in) { return matmul(in[0], in[1].t()); }, {leaf({2, 4}, 3), leaf({5, 4}, 4)});
  GRADCHECK([](const std::vector<Tensor>& in) { return matmul(in[0].slice(0, 0, 6, 2), in[1].permute({1, 0})); },
            {leaf({6, 4}, 5), leaf({3, 4}, 6)});
  GRADCHECK([](const std::vector<Tensor>& in) { return matmul(in[0].transpose(1, 2), in[1]); },
            {leaf({2, 5, 3}, 7), leaf({2, 5, 4}, 8)});
}

TEST_CASE("matmul: matches PyTorch with broadcast batch dims, values and gradients") {
  for (std::string kase : {"batched_broadcast", "matrix", "matrix_by_batch"}) {
    CAPTURE(kase);
    Tensor a = fixture_tensor("matmul", kase, "a").requires_grad_();
    Tensor b = fixture_tensor("matmul", kase, "b").requires_grad_();
    Tensor out = matmul(a, b);
    out.backward(fixture_tensor("matmul", kase, "g"));
    check_close(out, fixture_tensor("matmul", kase, "out"), 1e-5f, 1e-5f, "out");
    check_close(a.grad(), fixture_tensor("matmul", kase, "da"), 1e-5f, 1e-5f, "da");
    check_close(b.grad(), fixture_tensor("matmul", kase, "db"), 1e-5f, 1e-5f, "db");
  }
}

TEST_CASE("matmul: error messages name both shapes") {
  CHECK_THROWS_WITH_AS(matmul(zeros({3, 4}), zeros({5, 6})), "matmul: cannot multiply [3, 4] by [5, 6]", Error);
  CHECK_THROWS_WITH_AS(matmul(zeros({3}), zeros({3, 4})),
                       doctest::Contains("matmul: cannot multiply [3] by [3, 4] (both need at least 2 dims)"), Error);
  CHECK_THROWS_WITH_AS(matmul(zeros({3, 4}), zeros({4})), doctest::Contains("matmul: cannot multiply [3, 4] by [4]"),
                       Error);
  CHECK_THROWS_WITH_AS(matmul(zeros({2, 3, 4}), zeros({3, 4, 5})),
                       doctest::Contains("matmul: cannot multiply [2, 3, 4] by [3, 4, 5] (batch dims do not broadcast)"),
                       Error);
}
