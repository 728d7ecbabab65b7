// Pooling: gradchecks, PyTorch fixtures (tests/fixtures/gen_conv_pool.py), error messages.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

#include "core/norma.h"
#include "fixtures.h"
#include "gradcheck.h"

using namespace norma;
using namespace norma::testing;

namespace {

// A leaf holding a random permutation of 0, 0.1, 0.2, ...: no ties, and every gap (0.1) is far
// larger than gradcheck's eps, so a max never changes hands during the finite differences.
Tensor distinct_leaf(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  std::vector<float> v(size_t(shape_numel(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = 0.1f * float(i) - 0.05f * float(v.size());
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[size_t(gen.randint(i))]);  // Fisher-Yates
  return from_vector(v, shape).requires_grad_();
}

IntPair pair(const nlohmann::json& j) { return {j.at(0).get<int64_t>(), j.at(1).get<int64_t>()}; }

// Runs f on the fixture's x, compares out and the gradient of sum(out * gout) with PyTorch's.
template <typename F>
void check_fixture(const std::string& kase, F f) {
  INFO("case " << kase);
  Tensor x = fixture_tensor("conv_pool", kase, "x").requires_grad_();
  Tensor out = f(x, fixture_file("conv_pool").at(kase));
  CHECK(allclose(out, fixture_tensor("conv_pool", kase, "out"), 1e-4f, 1e-4f));
  out.backward(fixture_tensor("conv_pool", kase, "gout"));
  CHECK(allclose(x.grad(), fixture_tensor("conv_pool", kase, "gx"), 1e-4f, 1e-4f));
}

// Calls check_fixture for every case whose name starts with `prefix`; returns how many.
template <typename F>
int check_fixtures(const std::string& prefix, F f) {
  int n = 0;
  for (const auto& item : fixture_file("conv_pool").items())
    if (item.key().rfind(prefix, 0) == 0) check_fixture(item.key(), f), ++n;
  return n;
}

}  // namespace

TEST_CASE("gradcheck: max_pool2d") {
  GRADCHECK([](const std::vector<Tensor>& in) { return max_pool2d(in[0], 2); }, {distinct_leaf({2, 4, 6, 6}, 1)});
  GRADCHECK([](const std::vector<Tensor>& in) { return max_pool2d(in[0], 3, 2, 1); }, {distinct_leaf({2, 4, 7, 7}, 2)});
  GRADCHECK([](const std::vector<Tensor>& in) { return max_pool2d(in[0], 3, 1, 1, 2); },
            {distinct_leaf({2, 4, 6, 6}, 3)});
  GRADCHECK(
      [](const std::vector<Tensor>& in) {
        return max_pool2d(in[0], {3, 2}, {2, 1}, {1, 0});
      },
      {distinct_leaf({2, 4, 7, 6}, 4)});
}

TEST_CASE("gradcheck: avg_pool2d") {
  GRADCHECK([](const std::vector<Tensor>& in) { return avg_pool2d(in[0], 2); }, {leaf({2, 4, 6, 6}, 1)});
  GRADCHECK([](const std::vector<Tensor>& in) { return avg_pool2d(in[0], 3, 2, 1, true); }, {leaf({2, 4, 7, 7}, 2)});
  GRADCHECK([](const std::vector<Tensor>& in) { return avg_pool2d(in[0], 3, 2, 1, false); }, {leaf({2, 4, 7, 7}, 3)});
  GRADCHECK(
      [](const std::vector<Tensor>& in) {
        return avg_pool2d(in[0], {2, 3}, {1, 2}, {1, 1}, false);
      },
      {leaf({2, 4, 7, 6}, 4)});
}

TEST_CASE("gradcheck: adaptive_avg_pool2d") {
  GRADCHECK([](const std::vector<Tensor>& in) { return adaptive_avg_pool2d(in[0], {3, 2}); }, {leaf({2, 4, 5, 7}, 1)});
  GRADCHECK([](const std::vector<Tensor>& in) { return adaptive_avg_pool2d(in[0], 4); }, {leaf({2, 4, 6, 6}, 2)});
}

TEST_CASE("gradcheck: global_avg_pool2d") {
  GRADCHECK([](const std::vector<Tensor>& in) { return global_avg_pool2d(in[0]); }, {leaf({2, 4, 5, 3}, 1)});
}

TEST_CASE("max_pool2d: matches PyTorch") {
  int n = check_fixtures("max_", [](const Tensor& x, const nlohmann::json& j) {
    return max_pool2d(x, pair(j["kernel"]), pair(j["stride"]), pair(j["padding"]), pair(j["dilation"]));
  });
  CHECK(n == 4);
}

TEST_CASE("avg_pool2d: matches PyTorch") {
  int n = check_fixtures("avg_", [](const Tensor& x, const nlohmann::json& j) {
    return avg_pool2d(x, pair(j["kernel"]), pair(j["stride"]), pair(j["padding"]),
                      j["count_include_pad"].get<int>() != 0);
  });
  CHECK(n == 4);
}

TEST_CASE("adaptive_avg_pool2d: matches PyTorch") {
  int n = check_fixtures("adaptive_", [](const Tensor& x, const nlohmann::json& j) {
    return adaptive_avg_pool2d(x, pair(j["output_size"]));
  });
  CHECK(n == 3);
}

TEST_CASE("global_avg_pool2d: matches PyTorch") {
  int n = check_fixtures("global_", [](const Tensor& x, const nlohmann::json&) { return global_avg_pool2d(x); });
  CHECK(n == 1);
}

TEST_CASE("max_pool2d: first maximum wins a tie, padding never does") {
  // Window [[1, 3], [3, 0]]: the gradient goes to the first 3 (row-major), as in PyTorch.
  Tensor x = from_vector({1, 3, 3, 0}, {1, 1, 2, 2}).requires_grad_();
  max_pool2d(x, 2).sum().backward();
  CHECK(x.grad().to_vector() == std::vector<float>{0, 1, 0, 0});
  // All-negative input with padding 1: the -inf padding never wins.
  Tensor y = full({1, 1, 2, 2}, -5.f);
  CHECK(max_pool2d(y, 3, 1, 1).to_vector() == std::vector<float>(4, -5.f));
}

TEST_CASE("max_pool2d: the 2x2 fast path equals the general window") {
  // kernel 2, stride 2 takes the branch-free path (core/ops/pool.cpp); a plain loop with the
  // general path's rule (row-major, the first maximum kept, NaN wins) is the reference.
  Generator gen(5);
  Tensor x = randn({2, 3, 6, 8}, &gen);
  std::vector<float> v = x.to_vector();
  v[0] = v[1] = 7.f;                                   // a tie: the first wins
  v[8 * 6 + 9] = std::numeric_limits<float>::quiet_NaN();  // NaN wins its window
  v[8 * 6 * 2] = -std::numeric_limits<float>::infinity();
  Tensor xt = from_vector(v, {2, 3, 6, 8}).requires_grad_();
  Tensor out = max_pool2d(xt, 2);
  out.sum().backward();
  std::vector<float> o = out.to_vector(), g = xt.grad().to_vector();
  std::vector<float> want_g(v.size(), 0.f);
  for (int64_t p = 0; p < 6; ++p)
    for (int64_t oh = 0; oh < 3; ++oh)
      for (int64_t ow = 0; ow < 4; ++ow) {
        float best = -std::numeric_limits<float>::infinity();
        int64_t arg = -1;
        for (int64_t i = 0; i < 2; ++i)
          for (int64_t j = 0; j < 2; ++j) {
            const int64_t at = p * 48 + (2 * oh + i) * 8 + 2 * ow + j;
            if (v[size_t(at)] > best || std::isnan(v[size_t(at)])) best = v[size_t(at)], arg = at;
          }
        const float got = o[size_t((p * 3 + oh) * 4 + ow)];
        CHECK((std::isnan(best) ? std::isnan(got) : got == best));
        if (arg >= 0) want_g[size_t(arg)] += 1.f;
      }
  CHECK(g == want_g);
  CHECK(g[0] == 1.f);
  CHECK(g[1] == 0.f);
  CHECK(g[8 * 6 + 9] == 1.f);
}

TEST_CASE("max_pool2d: big input is the same on any thread count") {
  Generator gen(3);
  Tensor x = randn({4, 16, 32, 32}, &gen);
  int threads = get_num_threads();
  set_num_threads(1);
  Tensor one = max_pool2d(x, 3, 2, 1), avg_one = avg_pool2d(x, 3, 2, 1);
  set_num_threads(2);
  Tensor two = max_pool2d(x, 3, 2, 1), avg_two = avg_pool2d(x, 3, 2, 1);
  set_num_threads(threads);
  CHECK(equal(one, two));
  CHECK(equal(avg_one, avg_two));
}

TEST_CASE("pool: error messages") {
  CHECK_THROWS_WITH_AS(max_pool2d(zeros({3, 4, 4}), 2),
                       doctest::Contains("max_pool2d: expected input [N, C, H, W], got [3, 4, 4]"), Error);
  CHECK_THROWS_WITH_AS(max_pool2d(zeros({1, 1, 4, 4}), 2, 2, 2),
                       doctest::Contains("max_pool2d: padding 2x2 must be >= 0 and at most half the kernel 2x2"),
                       Error);
  CHECK_THROWS_WITH_AS(max_pool2d(zeros({1, 1, 4, 4}), 5),
                       doctest::Contains("max_pool2d: kernel 5x5 (after dilation) is larger than the padded input 4x4"),
                       Error);
  CHECK_THROWS_WITH_AS(max_pool2d(zeros({1, 1, 4, 4}), 2, 1, 0, 0),
                       doctest::Contains("max_pool2d: dilation must be >= 1"), Error);
  CHECK_THROWS_WITH_AS(avg_pool2d(zeros({1, 1, 4, 4}), 0), doctest::Contains("avg_pool2d: kernel_size must be >= 1"),
                       Error);
  CHECK_THROWS_WITH_AS(avg_pool2d(zeros({1, 1, 4, 4}), 2, -1), doctest::Contains("avg_pool2d: stride must be >= 1"),
                       Error);
  CHECK_THROWS_WITH_AS(adaptive_avg_pool2d(zeros({1, 1, 4, 4}), {0, 2}),
                       doctest::Contains("adaptive_avg_pool2d: output size must be >= 1, got 0x2"), Error);
  CHECK_THROWS_WITH_AS(global_avg_pool2d(zeros({2, 3})),
                       doctest::Contains("global_avg_pool2d: expected input [N, C, H, W], got [2, 3]"), Error);
}

TEST_CASE("pool: output shapes") {
  Tensor x = zeros({2, 3, 7, 6});
  CHECK(max_pool2d(x, 2).shape() == Shape{2, 3, 3, 3});           // stride defaults to the kernel
  CHECK(max_pool2d(x, 3, 2, 1, 2).shape() == Shape{2, 3, 3, 2});  // (7 + 2 - 4 - 1) / 2 + 1 = 3
  CHECK(avg_pool2d(x, {3, 2}, {1, 2}).shape() == Shape{2, 3, 5, 3});
  CHECK(adaptive_avg_pool2d(x, {3, 4}).shape() == Shape{2, 3, 3, 4});
  CHECK(global_avg_pool2d(x).shape() == Shape{2, 3});
}
