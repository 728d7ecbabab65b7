// The CIFAR-10 experiments' own pieces (cifar-bn, depth, preact, noisy-bn, landscape): the
// noise layer, the landscape probe, the curves read back from a run, at a tiny size on
// synthetic data (no CIFAR-10 needed).
#include <doctest/doctest.h>

#include <cmath>

#include "apps/experiments/channel_noise.h"
#include "apps/experiments/cifar_runs.h"
#include "apps/experiments/fast_cifar_net.h"
#include "apps/experiments/landscape_probe.h"
#include "core/norma.h"
#include "gradcheck.h"
#include "layers/containers.h"
#include "layers/linear.h"
#include "layers/resnet/models.h"

using namespace norma;
using namespace norma::apps::experiments;
using nlohmann::json;
using norma::apps::check_options;
using norma::apps::TrainOptions;

TEST_CASE("experiments-cifar: ChannelNoise scales each channel by one s in [1/b, b] and is off in eval mode") {
  ChannelNoise noise(0.5f, 1.5f);
  Tensor x = randn({3, 4, 5, 5});
  noise.eval();
  CHECK(noise(x).to_vector() == x.to_vector());
  noise.train();
  // y - y' for two inputs under the same draw is s_c (x - x'): the scale, one per channel.
  Tensor x2 = randn({3, 4, 5, 5});
  manual_seed(11);
  const std::vector<float> y = noise(x).to_vector();
  manual_seed(11);
  const std::vector<float> y2 = noise(x2).to_vector();
  const std::vector<float> a = x.to_vector(), b = x2.to_vector();
  for (int64_t c = 0; c < 4; ++c) {
    double s_min = INFINITY, s_max = -INFINITY;
    for (int64_t n = 0; n < 3; ++n)
      for (int64_t i = 0; i < 25; ++i) {
        const size_t k = size_t((n * 4 + c) * 25 + i);
        if (std::fabs(a[k] - b[k]) < 0.05f) continue;  // too close to divide
        const double s = (y[k] - y2[k]) / (a[k] - b[k]);
        s_min = std::min(s_min, s), s_max = std::max(s_max, s);
      }
    CHECK(s_max - s_min < 1e-3);
    CHECK(s_min >= 1 / 1.5 - 1e-4);
    CHECK(s_max <= 1.5 + 1e-4);
  }
  // A new draw every call: the same input gives another output.
  CHECK(noise(x).to_vector() != noise(x).to_vector());
  CHECK_THROWS_WITH_AS(ChannelNoise(0.5f, 0.5f), doctest::Contains("b >= 1"), Error);
}

TEST_CASE("experiments-cifar: ChannelNoise's gradient matches finite differences") {
  ChannelNoise noise(1.0f, 2.0f);
  Tensor x = testing::leaf({2, 3, 4, 4});
  GRADCHECK(
      [&](const std::vector<Tensor>& in) {
        manual_seed(5);  // the same draw for every evaluation
        return noise(in[0]);
      },
      {x});
}

TEST_CASE("experiments-cifar: add_noise_after_norms puts a noise after each of the vgg's six norms") {
  std::shared_ptr<nn::Module> vgg = nn::make_model("vgg", nn::NormConfig{"bn"});
  add_noise_after_norms(*vgg, 0.5f, 1.5f);
  int wrapped = 0;
  for (const auto& [name, child] : vgg->children())
    if (name.rfind("bn", 0) == 0) {
      CHECK(child->type_name() == "Sequential");
      CHECK(child->child("noise")->type_name() == "ChannelNoise");
      ++wrapped;
    }
  CHECK(wrapped == 6);
  Tensor y = (*vgg)(randn({2, 3, 32, 32}));
  CHECK(y.shape() == Shape{2, 10});
  nn::Sequential plain;
  CHECK_THROWS_WITH_AS(add_noise_after_norms(plain, 0.5f, 1.5f), doctest::Contains("no child named bn1"), Error);
}

TEST_CASE("experiments-cifar: the landscape probe restores the weights and running statistics exactly") {
  manual_seed(3);
  std::shared_ptr<nn::Module> vgg = nn::make_model("vgg", nn::NormConfig{"bn"});
  data::Batch batch;
  batch.images = randn({8, 3, 16, 16});
  batch.labels = {0, 1, 2, 3, 4, 5, 6, 7};
  vgg->eval();
  const nn::StateDict before = vgg->state_dict();
  const LandscapeProbe p = probe_landscape(*vgg, batch, 0.05, {0.25, 1, 4}, 50);
  const nn::StateDict after = vgg->state_dict();
  REQUIRE(before.size() == after.size());
  for (size_t i = 0; i < before.size(); ++i) {
    INFO(before[i].first);
    CHECK(before[i].second.to_vector() == after[i].second.to_vector());
  }
  CHECK_FALSE(vgg->is_training());
  CHECK(p.step == 50);
  CHECK(p.loss_min <= p.loss);
  CHECK(p.loss <= p.loss_max);
  CHECK(p.loss_max > p.loss_min);  // the steps do move the loss
  CHECK(p.gdiff_min > 0);
  CHECK(p.gdiff_min <= p.gdiff_max);
  CHECK(p.beta > 0);
  for (const Tensor& w : vgg->parameters())
    if (w.grad().defined())
      for (float g : w.grad().to_vector()) REQUIRE(g == 0.0f);  // left zero
}

TEST_CASE("experiments-cifar: at small steps the probe's gradient change is linear in eta") {
  // For a smooth loss, g_eta - g = -eta H g + O(eta^2): halving eta halves ||g_eta - g|| and
  // leaves beta = ||H g|| / ||g|| (the curvature along g) unchanged.
  manual_seed(4);
  auto model = std::make_shared<nn::Sequential>();
  model->push_back(std::make_shared<nn::Linear>(6, 3));
  data::Batch batch;
  batch.images = randn({5, 6});
  batch.labels = {0, 1, 2, 0, 1};
  const LandscapeProbe small = probe_landscape(*model, batch, 1e-3, {1});
  const LandscapeProbe smaller = probe_landscape(*model, batch, 5e-4, {1});
  CHECK(small.beta == doctest::Approx(smaller.beta).epsilon(0.02));
  CHECK(small.gdiff_max == doctest::Approx(2 * smaller.gdiff_max).epsilon(0.02));  // linear in eta
}

TEST_CASE("experiments-cifar: curves read back from a run") {
  json run = {{"diverged", false},
              {"test_accuracy", 0.7},
              {"loss_step", {10, 20, 30, 40}},
              {"loss_epoch", {1, 1, 2, 2}},
              {"loss", {2.0, 1.5, 1.2, 1.0}},
              {"eval_step", {20, 40}},
              {"eval_epoch", {1, 2}},
              {"test_accuracy_curve", {0.5, 0.7}}};
  CHECK(last_epoch_loss(run) == doctest::Approx(1.1));
  CHECK(final_accuracy(run) == doctest::Approx(0.7));
  CHECK(accuracy_at_epoch(run, 1) == doctest::Approx(0.5));
  CHECK(accuracy_at_epoch(run, 5) == doctest::Approx(0.7));
  CHECK(std::isnan(accuracy_at_epoch(run, 0)));
  const Series a = accuracy_series("a", run, 20);
  CHECK(a.x == std::vector<double>{1.0, 2.0});
  CHECK(loss_series("l", run).y.size() == 4);
  run["diverged"] = true;
  CHECK(std::isnan(final_accuracy(run)));
  CHECK(accuracy_text(NAN, true) == "diverged");
  CHECK(accuracy_text(0.91234) == "0.9123");
}

TEST_CASE("experiments-cifar: the recipe and its run keys") {
  Context ctx;
  TrainOptions o = cifar_recipe(ctx, "resnet20", "bn", 0.1, 10, 1, 40);
  CHECK(o.data == "cifar10");
  CHECK(o.augment);
  CHECK(o.schedule == "onecycle");
  CHECK(o.weight_decay == doctest::Approx(5e-4));
  CHECK(o.steps == 0);
  CHECK(cifar_key(o) == "resnet20-bn-lr0.1-seed1-e10");
  ctx.quick = true;
  CHECK(cifar_key(cifar_recipe(ctx, "vgg", "none", 0.4, 10, 0, 40)) == "vgg-none-lr0.4-seed0-steps40");
  ctx.max_steps = 7;
  CHECK(cifar_recipe(ctx, "vgg", "none", 0.4, 10, 0, 40).steps == 7);
  check_options(cifar_recipe(ctx, "plain56", "gn", 0.02, 3, 0, 40));  // every setting valid
}

TEST_CASE("experiments-cifar: FastCifarNet's shapes and its multiply-accumulate count") {
  FastCifarNet net(2, {4, 8, 8});
  // stem 32*32*9*3*2, block 1: 32*32*9*2*4 then 16*16*9*4*4, block 2: 16*16*9*4*8 then
  // 8*8*9*8*8, block 3: 8*8*9*8*8 then 4*4*9*8*8, fc 8*10
  CHECK(net.forward_macs() == 55296 + 73728 + 36864 + 73728 + 36864 + 36864 + 9216 + 80);
  // cifar-target's net: 663,552 + 14,155,776 + 9,437,184 + 3 x 37,748,736 + 9,437,184 + 2,560
  CHECK(FastCifarNet(24, {64, 256, 256}).forward_macs() == 146942464);
  Tensor y = net(randn({2, 3, 32, 32}));
  CHECK(y.shape() == Shape{2, 10});
  CHECK(net.num_parameters() == 3 * 2 * 9 + 2 * 2 + 2 * 4 * 9 + 4 * 4 * 9 + 2 * 4 * 2 + 4 * 8 * 9 + 8 * 8 * 9 +
                                    2 * 8 * 2 + 8 * 8 * 9 * 2 + 2 * 8 * 2 + 8 * 10);
  CHECK_THROWS_WITH_AS(net(randn({2, 3, 28, 28})), doctest::Contains("expected [N, 3, 32, 32]"), Error);
}
