#include <doctest/doctest.h>

#include "batch_norm_fixtures.h"
#include "core/norma.h"
#include "gradcheck.h"
#include "layers/norm/batch_norm.h"
#include "layers/norm/ghost_batch_norm.h"

using namespace norma;
using namespace norma::testing;
using nn::GhostBatchNorm;

namespace {
void set_affine(nn::BatchNorm& bn, uint64_t seed) {
  Generator g(seed);
  bn.param("weight").copy_(uniform({bn.num_features}, 0.5f, 1.5f, &g));
  bn.param("bias").copy_(randn({bn.num_features}, &g));
}
}  // namespace

TEST_CASE("ghost_batch_norm: virtual_batch_size == N equals BatchNorm exactly") {
  for (Shape shape : {Shape{6, 3}, Shape{4, 3, 5}, Shape{2, 3, 2, 3}}) {
    INFO("input " << shape);
    GhostBatchNorm ghost(3, shape[0]);
    std::shared_ptr<nn::BatchNorm> bn;
    if (shape.size() == 4)
      bn = std::make_shared<nn::BatchNorm2d>(3);
    else
      bn = std::make_shared<nn::BatchNorm1d>(3);
    set_affine(ghost, 1), set_affine(*bn, 1);
    for (int step = 0; step < 3; ++step) {
      if (step == 2) ghost.eval(), bn->eval();
      Tensor x = leaf(shape, 2 + uint64_t(step)), x2 = x.detach().clone().requires_grad_();
      ghost.zero_grad(), bn->zero_grad();
      Tensor y = ghost(x), y2 = (*bn)(x2), r = randn(shape);
      (y * r).sum().backward();
      (y2 * r).sum().backward();
      CHECK(equal(y, y2));
      CHECK(equal(x.grad(), x2.grad()));
      CHECK(equal(ghost.param("weight").grad(), bn->param("weight").grad()));
      CHECK(equal(ghost.param("bias").grad(), bn->param("bias").grad()));
      CHECK(equal(ghost.buffer("running_mean"), bn->buffer("running_mean")));
      CHECK(equal(ghost.buffer("running_var"), bn->buffer("running_var")));
      CHECK(ghost.buffer("num_batches_tracked").item() == bn->buffer("num_batches_tracked").item());
    }
  }
}

TEST_CASE("ghost_batch_norm: each chunk is normalized with its own statistics") {
  GhostBatchNorm ghost(2, 2, 1e-5f, 0.1f, false);
  // Chunk 2 is chunk 1 scaled by 10 and shifted by 100: its normalized values are the same.
  Tensor a = randn({2, 2, 3});
  Tensor x = empty({4, 2, 3});
  slice(x, 0, 0, 2).copy_(a);
  slice(x, 0, 2, 4).copy_(a * 10.f + 100.f);
  Tensor y = ghost(x);
  CHECK(allclose(slice(y, 0, 2, 4), slice(y, 0, 0, 2), 1e-4f, 1e-4f));
  CHECK(allclose(mean(slice(y, 0, 2, 4), {0, 2}), zeros({2}), 0.f, 1e-5f));
  CHECK(ghost.buffer("num_batches_tracked").item() == 2.f);  // one step per chunk
}

TEST_CASE("gradcheck: ghost_batch_norm training chunks") {
  for (Shape shape : {Shape{6, 2}, Shape{4, 2, 3}, Shape{4, 2, 2, 2}}) {
    INFO("input " << shape);
    GhostBatchNorm ghost(2, 2);
    set_affine(ghost, 3);
    GRADCHECK([&](const std::vector<Tensor>& in) { return ghost(in[0]); },
              (std::vector<Tensor>{leaf(shape, 4), ghost.param("weight"), ghost.param("bias")}));
  }
  GhostBatchNorm plain(2, 3, 1e-5f, std::nullopt, false);
  GRADCHECK([&](const std::vector<Tensor>& in) { return plain(in[0]); }, {leaf({6, 2, 2}, 5)});
}

TEST_CASE("gradcheck: ghost_batch_norm eval") {
  GhostBatchNorm ghost(2, 2);
  set_affine(ghost, 6);
  ghost.buffer("running_mean").copy_(from_vector({0.3f, -0.2f}, {2}));
  ghost.buffer("running_var").copy_(from_vector({0.7f, 1.6f}, {2}));
  ghost.eval();
  GRADCHECK([&](const std::vector<Tensor>& in) { return ghost(in[0]); },
            (std::vector<Tensor>{leaf({3, 2, 2}, 7), ghost.param("weight"), ghost.param("bias")}));
}

TEST_CASE("ghost_batch_norm: matches chunked PyTorch BatchNorm over 3 training steps and eval") {
  int n = 0;
  for (auto& [name, c] : fixture_file("batch_norm").items())
    if (name.rfind("ghost", 0) == 0) {
      INFO("case " << name);
      check_batch_norm_case(name);
      ++n;
    }
  CHECK(n == 5);
}

TEST_CASE("ghost_batch_norm: repr and error messages") {
  GhostBatchNorm ghost(3, 4);
  CHECK(ghost.repr() ==
        "GhostBatchNorm(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True, virtual_batch_size=4)");
  CHECK_THROWS_WITH_AS(ghost(randn({6, 3})),
                       "GhostBatchNorm: batch size 6 is not a multiple of virtual_batch_size=4 (input of shape [6, 3])",
                       Error);
  CHECK_THROWS_WITH_AS(ghost(randn({8, 2})), doctest::Contains("GhostBatchNorm: expected 3 channels"), Error);
  CHECK_THROWS_WITH_AS(ghost(randn({8, 3, 1, 1, 1})), doctest::Contains("GhostBatchNorm: expected input [N, C]"),
                       Error);
  GhostBatchNorm one(3, 1);
  CHECK_THROWS_WITH_AS(one(randn({4, 3})),
                       doctest::Contains("expected more than 1 value per channel in each virtual batch"), Error);
  CHECK(one(randn({4, 3, 2})).shape() == Shape{4, 3, 2});  // one sample, 2 values per channel: fine
  ghost.eval();
  CHECK(ghost(randn({6, 3})).shape() == Shape{6, 3});  // eval: any N
  CHECK_THROWS_WITH_AS(GhostBatchNorm(3, 0), doctest::Contains("virtual_batch_size must be positive"), Error);
}
