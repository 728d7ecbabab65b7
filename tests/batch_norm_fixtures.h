// Replays a case of tests/fixtures/batch_norm.json (tests/fixtures/gen_batch_norm.py) through
// norma's BatchNorm1d/2d or GhostBatchNorm: 3 training steps, then one eval step, checking the
// output, the gradients of input, weight and bias, and the running statistics after each step.
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>

#include "core/norma.h"
#include "fixtures.h"
#include "layers/norm/batch_norm.h"
#include "layers/norm/ghost_batch_norm.h"

namespace norma::testing {

inline void check_close(const std::string& what, const Tensor& got, const Tensor& want, float rtol = 1e-4f,
                        float atol = 1e-5f) {
  REQUIRE_MESSAGE(got.defined(), what << " is undefined");
  REQUIRE_MESSAGE(got.shape() == want.shape(), what << ": shape " << got.shape() << " vs " << want.shape());
  std::vector<float> a = got.to_vector(), b = want.to_vector();
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, double(std::fabs(a[i] - b[i])));
  INFO(what << ": max abs diff " << worst);
  CHECK(allclose(got, want, rtol, atol));
}

inline void check_batch_norm_case(const std::string& name) {
  const auto& c = fixture_file("batch_norm").at(name);
  auto T = [&](const std::string& key) { return fixture_tensor("batch_norm", name, key); };
  const std::string kind = c.at("kind");
  const int64_t C = c.at("num_features");
  const float eps = c.at("eps");
  const std::optional<float> momentum =
      c.at("momentum").is_null() ? std::nullopt : std::optional<float>(c.at("momentum").get<float>());
  const bool affine = c.at("affine"), track = c.at("track_running_stats");
  std::shared_ptr<nn::BatchNorm> m;
  if (kind == "BatchNorm1d")
    m = std::make_shared<nn::BatchNorm1d>(C, eps, momentum, affine, track);
  else if (kind == "BatchNorm2d")
    m = std::make_shared<nn::BatchNorm2d>(C, eps, momentum, affine, track);
  else
    m = std::make_shared<nn::GhostBatchNorm>(C, c.at("virtual_batch_size").get<int64_t>(), eps, momentum, affine,
                                             track);
  if (affine) {
    m->param("weight").copy_(T("weight"));
    m->param("bias").copy_(T("bias"));
  }
  auto step = [&](const std::string& k) {
    Tensor x = T("x" + k).requires_grad_();
    m->zero_grad();
    Tensor y = (*m)(x);
    y.backward(T("gy" + k));
    const std::string at = name + " step " + k + ": ";
    check_close(at + "y", y, T("y" + k));
    check_close(at + "dx", x.grad(), T("gx" + k));
    if (affine) {
      check_close(at + "dweight", m->param("weight").grad(), T("gw" + k));
      check_close(at + "dbias", m->param("bias").grad(), T("gb" + k));
    }
    CHECK(m->has_buffer("running_mean") == track);
    if (track) {
      check_close(at + "running_mean", m->buffer("running_mean"), T("running_mean" + k));
      check_close(at + "running_var", m->buffer("running_var"), T("running_var" + k));
      CHECK(m->buffer("num_batches_tracked").item() == c.at("num_batches_tracked" + k).get<float>());
    }
  };
  m->train();
  for (int k = 0; k < 3; ++k) step(std::to_string(k));
  m->eval();
  step("_eval");
}

}  // namespace norma::testing
