#include <doctest/doctest.h>

#include "batch_norm_fixtures.h"
#include "core/norma.h"
#include "gradcheck.h"
#include "layers/norm/batch_norm.h"
#include "layers/norm/sync_batch_norm.h"

using namespace norma;
using namespace norma::testing;
using nn::batch_norm;
using nn::BatchNorm1d;
using nn::BatchNorm2d;

namespace {
// Non-trivial running statistics and affine parameters, so eval mode and gamma/beta matter.
void randomize(nn::BatchNorm& bn, uint64_t seed) {
  Generator g(seed);
  const int64_t C = bn.num_features;
  if (bn.affine) {
    bn.param("weight").copy_(uniform({C}, 0.5f, 1.5f, &g));
    bn.param("bias").copy_(randn({C}, &g));
  }
  if (bn.track_running_stats) {
    bn.buffer("running_mean").copy_(randn({C}, &g));
    bn.buffer("running_var").copy_(uniform({C}, 0.5f, 2.f, &g));
  }
}

// Gradchecks input, weight and bias of `bn` on an input of `shape`, in its current mode.
void gradcheck_module(nn::BatchNorm& bn, const Shape& shape, uint64_t seed) {
  randomize(bn, seed);
  std::vector<Tensor> inputs{leaf(shape, seed)};
  if (bn.affine) inputs.push_back(bn.param("weight")), inputs.push_back(bn.param("bias"));
  // The parameters are the module's own leaves: gradcheck perturbs them in place.
  GRADCHECK([&](const std::vector<Tensor>& in) { return bn(in[0]); }, inputs);
}

// BatchNorm composed from primitive ops, differentiated by the tape (the fused op's reference).
Tensor composed_batch_norm(const Tensor& x, const Tensor& w, const Tensor& b, float eps) {
  Shape dims{0}, cshape{1, x.size(1)};
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d), cshape.push_back(1);
  Tensor mu = mean(x, dims, true);
  Tensor d = x - mu;
  Tensor var = mean(d * d, dims, true);
  Tensor xhat = d * pow(var + eps, -0.5f);
  return xhat * reshape(w, cshape) + reshape(b, cshape);
}
}  // namespace

TEST_CASE("batch_norm: seed example x = [2, 4, 6, 8], gamma 2, beta 0.5") {
  BatchNorm1d bn(1);
  bn.param("weight").fill_(2.f);
  bn.param("bias").fill_(0.5f);
  Tensor y = bn(from_vector({2, 4, 6, 8}, {4, 1}));
  // mean 5, biased var 5: x_hat = (x - 5) / sqrt(5 + 1e-5) ~ [-1.342, -0.447, 0.447, 1.342]
  Tensor xhat = (y - 0.5f) / 2.f;
  CHECK(allclose(xhat, from_vector({-1.3416f, -0.4472f, 0.4472f, 1.3416f}, {4, 1}), 0.f, 1e-4f));
  CHECK(allclose(y, from_vector({-2.1833f, -0.3944f, 1.3944f, 3.1833f}, {4, 1}), 0.f, 1e-4f));
  // running: 0.9 * 0 + 0.1 * 5;  0.9 * 1 + 0.1 * 20/3 (unbiased)
  CHECK(bn.buffer("running_mean").item() == doctest::Approx(0.5f));
  CHECK(bn.buffer("running_var").item() == doctest::Approx(0.9f + 0.1f * 20.f / 3.f));
  CHECK(bn.buffer("num_batches_tracked").item() == 1.f);
}

TEST_CASE("gradcheck: batch_norm training BatchNorm1d [N, C], [N, C, L], BatchNorm2d") {
  BatchNorm1d a(3), b(3, 1e-5f, 0.1f, false);
  BatchNorm2d c(2), d(2, 1e-5f, 0.1f, false);
  gradcheck_module(a, {5, 3}, 1);
  gradcheck_module(a, {4, 3, 3}, 2);
  gradcheck_module(b, {4, 3, 3}, 3);  // affine off
  gradcheck_module(c, {2, 2, 3, 3}, 4);
  gradcheck_module(d, {3, 2, 2, 2}, 5);
  gradcheck_module(a, {2, 3}, 6);  // batch 2: x_hat = +-1
}

TEST_CASE("gradcheck: batch_norm eval BatchNorm1d [N, C], [N, C, L], BatchNorm2d") {
  BatchNorm1d a(3), b(3, 1e-5f, 0.1f, false);
  BatchNorm2d c(2), d(2, 1e-5f, 0.1f, false);
  for (nn::BatchNorm* bn : {static_cast<nn::BatchNorm*>(&a), static_cast<nn::BatchNorm*>(&b),
                            static_cast<nn::BatchNorm*>(&c), static_cast<nn::BatchNorm*>(&d)})
    bn->eval();
  gradcheck_module(a, {5, 3}, 11);
  gradcheck_module(a, {4, 3, 3}, 12);
  gradcheck_module(b, {4, 3, 3}, 13);
  gradcheck_module(c, {2, 2, 3, 3}, 14);
  gradcheck_module(d, {1, 2, 2, 2}, 15);
}

TEST_CASE("batch_norm: fused backward equals autograd through primitive ops") {
  // The last shape is big enough (33,600 values) for the OpenMP paths of the kernels.
  for (Shape shape : {Shape{7, 3}, Shape{4, 3, 5}, Shape{2, 3, 4, 3}, Shape{2, 3, 80, 70}}) {
    INFO("input " << shape);
    Tensor x = leaf(shape, 21), w = leaf({3}, 22), b = leaf({3}, 23);
    Tensor x2 = x.detach().clone().requires_grad_(), w2 = w.detach().clone().requires_grad_(),
           b2 = b.detach().clone().requires_grad_();
    Tensor gy = randn(shape);
    Tensor y = batch_norm(x, Tensor(), Tensor(), w, b, true);
    Tensor y2 = composed_batch_norm(x2, w2, b2, 1e-5f);
    y.backward(gy);
    y2.backward(gy);
    CHECK(allclose(y, y2, 1e-5f, 1e-5f));
    CHECK(allclose(x.grad(), x2.grad(), 1e-5f, 1e-5f));
    CHECK(allclose(w.grad(), w2.grad(), 1e-5f, 1e-5f));
    CHECK(allclose(b.grad(), b2.grad(), 1e-5f, 1e-5f));
  }
}

TEST_CASE("batch_norm: Ioffe & Szegedy 3.3, BN(a W u) = BN(W u), dL/du equal, dL/d(aW) = dL/dW / a") {
  const float a = 5.f;
  Tensor u = leaf({8, 5}, 31), W = leaf({4, 5}, 32);
  Tensor u2 = u.detach().clone().requires_grad_(), aW = (W.detach() * a).requires_grad_();
  BatchNorm1d bn(4);
  randomize(bn, 33);
  Tensor r = randn({8, 4});
  Tensor y = bn(matmul(u, W.t())), y2 = bn(matmul(u2, aW.t()));
  (y * r).sum().backward();
  (y2 * r).sum().backward();
  CHECK(allclose(y2, y, 1e-4f, 1e-5f));
  CHECK(allclose(u2.grad(), u.grad(), 1e-4f, 1e-5f));
  CHECK(allclose(aW.grad() * a, W.grad(), 1e-4f, 1e-5f));
  CHECK_FALSE(allclose(aW.grad(), W.grad(), 1e-2f, 1e-3f));  // the scaling is real
}

TEST_CASE("batch_norm: momentum unset is the cumulative average of the batch statistics") {
  BatchNorm1d bn(3, 1e-5f, std::nullopt);
  Tensor sum_mean = zeros({3}), sum_var = zeros({3});
  for (uint64_t k = 0; k < 4; ++k) {
    Generator g(40 + k);
    Tensor x = normal({6, 3, 2}, float(k), 1.f + float(k), &g);
    bn(x);
    sum_mean = sum_mean + mean(x, {0, 2});
    Tensor d = x - mean(x, {0, 2}, true);
    sum_var = sum_var + sum(d * d, {0, 2}) / 11.f;  // unbiased: m - 1 = 11
  }
  CHECK(bn.buffer("num_batches_tracked").item() == 4.f);
  CHECK(allclose(bn.buffer("running_mean"), sum_mean / 4.f, 1e-5f, 1e-5f));
  CHECK(allclose(bn.buffer("running_var"), sum_var / 4.f, 1e-5f, 1e-5f));
  bn.reset_running_stats();
  CHECK(equal(bn.buffer("running_var"), ones({3})));
  CHECK(bn.buffer("num_batches_tracked").item() == 0.f);
}

TEST_CASE("batch_norm: track_running_stats=false uses batch statistics in eval too") {
  BatchNorm2d bn(2, 1e-5f, 0.1f, true, false);
  CHECK_FALSE(bn.has_buffer("running_mean"));
  CHECK(bn.state_dict().size() == 2);  // weight, bias
  Tensor x = randn({3, 2, 2, 2});
  Tensor y_train = bn(x);
  bn.eval();
  CHECK(equal(bn(x), y_train));
  CHECK(allclose(mean(y_train, {0, 2, 3}), zeros({2}), 0.f, 1e-5f));
}

TEST_CASE("batch_norm: eval uses the running statistics") {
  BatchNorm2d bn(2);
  randomize(bn, 50);
  bn.eval();
  Tensor x = randn({2, 2, 3, 3});
  Tensor rm = reshape(bn.buffer("running_mean"), {1, 2, 1, 1}), rv = reshape(bn.buffer("running_var"), {1, 2, 1, 1});
  Tensor want = (x - rm) * pow(rv + 1e-5f, -0.5f) * reshape(bn.param("weight"), {1, 2, 1, 1}) +
                reshape(bn.param("bias"), {1, 2, 1, 1});
  Tensor before = bn.buffer("running_mean").clone();
  CHECK(allclose(bn(x), want, 1e-5f, 1e-6f));
  CHECK(equal(bn.buffer("running_mean"), before));
  CHECK(bn.buffer("num_batches_tracked").item() == 0.f);
}

TEST_CASE("batch_norm: state_dict, repr") {
  BatchNorm2d bn(64);
  std::vector<std::string> keys;
  for (auto& [k, t] : bn.state_dict()) keys.push_back(k);
  CHECK(keys == std::vector<std::string>{"weight", "bias", "running_mean", "running_var", "num_batches_tracked"});
  CHECK(bn.buffer("num_batches_tracked").dim() == 0);
  CHECK(bn.repr() == "BatchNorm2d(64, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)");
  BatchNorm1d b1(8, 1e-3f, std::nullopt, false, false);
  CHECK(b1.extra_repr() == "8, eps=0.001, momentum=None, affine=False, track_running_stats=False");
  CHECK(BatchNorm1d(2, 1e-5f, 1.f).extra_repr() == "2, eps=1e-05, momentum=1.0, affine=True, track_running_stats=True");
  CHECK(nn::SyncBatchNorm(4).repr() ==
        "SyncBatchNorm(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)");
}

TEST_CASE("batch_norm: error messages") {
  BatchNorm2d bn2(3);
  CHECK_THROWS_WITH_AS(
      bn2(randn({1, 3, 1, 1})),
      "BatchNorm2d: expected more than 1 value per channel when training, got input of shape [1, 3, 1, 1]", Error);
  bn2.eval();
  CHECK(bn2(randn({1, 3, 1, 1})).shape() == Shape{1, 3, 1, 1});  // fine in eval
  CHECK_THROWS_WITH_AS(bn2(randn({2, 3, 4})),
                       doctest::Contains("BatchNorm2d: expected 4D input [N, C, H, W], got [2, 3, 4]"), Error);
  CHECK_THROWS_WITH_AS(bn2(randn({2, 4, 2, 2})), doctest::Contains("BatchNorm2d: expected 3 channels"), Error);
  BatchNorm1d bn1(3);
  CHECK_THROWS_WITH_AS(bn1(randn({1, 3})), doctest::Contains("BatchNorm1d: expected more than 1 value per channel"),
                       Error);
  CHECK_THROWS_WITH_AS(bn1(randn({2, 3, 2, 2})), doctest::Contains("BatchNorm1d: expected 2D or 3D input"), Error);
  CHECK_THROWS_WITH_AS(bn1(randn({4, 2})), doctest::Contains("got input of shape [4, 2]"), Error);
  CHECK_THROWS_WITH_AS(BatchNorm1d(0), doctest::Contains("BatchNorm1d: num_features must be positive"), Error);
  CHECK_THROWS_WITH_AS(batch_norm(randn({4, 3}), Tensor(), Tensor(), Tensor(), Tensor(), false),
                       doctest::Contains("batch_norm: running_mean and running_var must be defined in eval mode"),
                       Error);
  CHECK_THROWS_WITH_AS(batch_norm(randn({4, 3}), Tensor(), Tensor(), ones({4}), Tensor(), true),
                       doctest::Contains("batch_norm: weight, bias and running statistics must be contiguous [3]"),
                       Error);
  nn::SyncBatchNorm sync(3);
  CHECK_THROWS_WITH_AS(sync(randn({3})), doctest::Contains("SyncBatchNorm: expected at least 2D input"), Error);
}

TEST_CASE("batch_norm: SyncBatchNorm in one process equals BatchNorm2d") {
  BatchNorm2d bn(3);
  nn::SyncBatchNorm sync(3);
  randomize(bn, 60);
  randomize(sync, 60);
  for (int step = 0; step < 3; ++step) {
    if (step == 2) bn.eval(), sync.eval();
    Tensor x = leaf({4, 3, 2, 2}, 61 + uint64_t(step)), x2 = x.detach().clone().requires_grad_();
    bn.zero_grad(), sync.zero_grad();
    Tensor y = bn(x), y2 = sync(x2), r = randn({4, 3, 2, 2});
    (y * r).sum().backward();
    (y2 * r).sum().backward();
    CHECK(equal(y, y2));
    CHECK(equal(x.grad(), x2.grad()));
    CHECK(equal(bn.param("weight").grad(), sync.param("weight").grad()));
    CHECK(equal(bn.buffer("running_var"), sync.buffer("running_var")));
  }
}

TEST_CASE("batch_norm: matches PyTorch BatchNorm1d/2d over 3 training steps and eval") {
  int n = 0;
  for (auto& [name, c] : fixture_file("batch_norm").items())
    if (name.rfind("bn", 0) == 0) {
      INFO("case " << name);
      check_batch_norm_case(name);
      ++n;
    }
  CHECK(n == 10);
}
