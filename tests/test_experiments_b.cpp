// Experiments 4-7 (ghost-bn, train-eval, dropout-shift, rmsnorm): their measurements at a tiny
// size, on synthetic data (no MNIST needed).
#include <doctest/doctest.h>

#include <cmath>
#include <functional>

#include "apps/experiments/classifier_loop.h"
#include "apps/experiments/experiment_nets.h"
#include "apps/experiments/experiments_b.h"
#include "core/norma.h"
#include "data_helpers.h"
#include "layers/norm/batch_norm.h"
#include "layers/resnet/models.h"

using namespace norma;
using namespace norma::apps::experiments;

namespace {
// A separable 28x28 set: class k lights the 4x4 block at row 2 + 2k, column 4 (plus noise).
std::shared_ptr<data::ImageDataset> blocks_dataset(int64_t n, uint64_t seed) {
  Generator gen(seed);
  std::vector<uint8_t> pixels(size_t(n * 784));
  std::vector<int64_t> labels{};
  labels.resize(size_t(n));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = i % 10;
    labels[size_t(i)] = k;
    for (int64_t p = 0; p < 784; ++p) pixels[size_t(i * 784 + p)] = uint8_t(gen.randint(40));
    for (int64_t r = 0; r < 4; ++r)
      for (int64_t c = 0; c < 4; ++c) pixels[size_t(i * 784 + (2 + 2 * k + r) * 28 + 4 + c)] = 255;
  }
  std::vector<std::string> names;
  for (int k = 0; k < 10; ++k) names.push_back(std::to_string(k));
  return std::make_shared<data::ImageDataset>(data::ImageShape{1, 28, 28}, pixels, labels, names);
}
}  // namespace

TEST_CASE("experiments-b: ghost batches normalize each chunk of 128 on its own") {
  // A batch of 2 ghost batches: changing the second chunk must leave the first chunk's outputs
  // exactly as they were (its statistics are its own); with plain BN they move.
  manual_seed(1);
  DeepMLP ghost({16, 16}, nn::NormConfig{"ghost", 128, 16});
  manual_seed(1);
  DeepMLP plain({16, 16}, nn::NormConfig{"bn", 128, 16});
  Generator gen(2);
  Tensor x = randn({256, 784}, &gen);
  Tensor x2 = x.clone();
  x2.slice(0, 128, 256).copy_(randn({128, 784}, &gen) * 3.f + 2.f);
  std::vector<float> g1 = ghost(x).slice(0, 0, 128).contiguous().to_vector();
  std::vector<float> g2 = ghost(x2).slice(0, 0, 128).contiguous().to_vector();
  CHECK(g1 == g2);
  std::vector<float> p1 = plain(x).slice(0, 0, 128).contiguous().to_vector();
  std::vector<float> p2 = plain(x2).slice(0, 0, 128).contiguous().to_vector();
  CHECK(p1 != p2);
  // And each chunk of the first norm's output has mean 0 per feature (before the affine, which
  // starts as the identity).
  Tensor y = (*ghost.child("norm1"))(ghost.child("fc1")->forward(x2));
  for (int64_t chunk = 0; chunk < 2; ++chunk) {
    std::vector<float> m = mean(y.slice(0, chunk * 128, chunk * 128 + 128), {0}).to_vector();
    for (float v : m) CHECK(std::abs(v) < 1e-4f);
  }
}

TEST_CASE("experiments-b: ghost-bn's gap rule") {
  CHECK(gap_closed(1.0, 2.0, 1.5, 0.3) == doctest::Approx(0.5));
  CHECK(gap_closed(1.0, 2.0, 2.5, 0.3) == doctest::Approx(-0.5));
  CHECK(std::isnan(gap_closed(1.0, 1.2, 1.1, 0.3)));  // a 0.2-point gap: inconclusive
}

TEST_CASE("experiments-b: train-eval's wrong-mode pass leaves the model as it was") {
  manual_seed(3);
  auto lenet = nn::make_model("lenet", nn::NormConfig{"bn", 32, 16});
  lenet->eval();
  Generator gen(4);
  data::Batch b;
  b.images = randn({12, 1, 28, 28}, &gen);
  for (int64_t i = 0; i < 12; ++i) b.labels.push_back(i % 10);
  const nn::StateDict before = lenet->state_dict();
  std::vector<std::vector<float>> values;
  for (const auto& [name, t] : before) values.push_back(t.to_vector());

  // Eval mode: the batch size does not matter.
  const double e1 = accuracy_in_mode(*lenet, b, 1, EvalMode::Eval), e12 = accuracy_in_mode(*lenet, b, 12, EvalMode::Eval);
  CHECK(e1 == e12);
  // Training mode at batch 1 is refused by lenet's BatchNorm1d (one value per feature) after
  // its BatchNorm2d layers ran; batch 5 runs (a last batch of 2). Either way the running
  // statistics and the mode are back afterwards.
  CHECK_ERROR(accuracy_in_mode(*lenet, b, 1, EvalMode::Train), "expected more than 1 value per channel when training");
  accuracy_in_mode(*lenet, b, 5, EvalMode::BatchStats);
  CHECK_FALSE(lenet->is_training());
  const nn::StateDict after = lenet->state_dict();
  for (size_t k = 0; k < after.size(); ++k) CHECK_MESSAGE(after[k].second.to_vector() == values[k], after[k].first);

  // One value per channel (BatchNorm1d at batch 1): a clear error, and the mode restored.
  auto mlp = nn::make_model("mlp", nn::NormConfig{"bn", 32, 16});
  mlp->eval();
  CHECK_ERROR(accuracy_in_mode(*mlp, b, 1, EvalMode::Train), "expected more than 1 value per channel when training");
  CHECK_FALSE(mlp->is_training());
}

TEST_CASE("experiments-b: dropout then BN, the variance shift matches Li et al.'s closed form") {
  CHECK(variance_shift_formula(0, 1, 0.3) == doctest::Approx(0.7));
  CHECK(variance_shift_formula(1, 1, 0.5) == doctest::Approx(1.0 / 3.0));
  // norma's Dropout and BatchNorm1d, small: 300 steps of 256 x 16.
  for (const auto& cq : {std::pair{0.0, 0.3}, std::pair{1.0, 0.5}}) {
    const double c = cq.first, q = cq.second;
    const double m = measured_variance_shift(c, q, 300, 256, 16, 4096, 5);
    CHECK_MESSAGE(m / variance_shift_formula(c, 1, q) == doctest::Approx(1).epsilon(0.04), "c ", c, " q ", q);
  }
  // bn_input_shift: per-channel variance (biased, over N, H, W) over running_var, averaged.
  Tensor x = zeros({2, 2, 1, 2});
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t w = 0; w < 2; ++w) x.set({n, 0, 0, w}, float(n + w)), x.set({n, 1, 0, w}, 3.f * float(n));
  // channel 0: values 0 1 1 2, variance 0.5; channel 1: 0 0 3 3, variance 2.25
  CHECK(bn_input_shift(x, from_vector({0.25f, 4.5f}, {2})) == doctest::Approx((2.0 + 0.5) / 2));
}

TEST_CASE("experiments-b: DropoutCNN taps every BN input and recalibration removes the shift") {
  manual_seed(6);
  DropoutCNN cnn(DropoutCNN::Place::BeforeEveryBN, 0.5f);
  Generator gen(7);
  Tensor x = randn({32, 1, 28, 28}, &gen);
  // Training-mode steps with dropout move the running variances away from what eval sees.
  for (int i = 0; i < 5; ++i) cnn(x);
  recalibrate_batch_norm(cnn, {x});
  CHECK_FALSE(cnn.is_training());
  std::vector<Tensor> taps;
  cnn.taps = &taps;
  {
    NoGradGuard no_grad;
    cnn(x);
  }
  REQUIRE(taps.size() == 3);
  CHECK(taps[0].shape() == Shape{32, 32, 28, 28});
  CHECK(taps[2].shape() == Shape{32, 128});
  // Statistics of this very batch without dropout: eval's variance / running (unbiased)
  // variance is (m-1)/m, up to bn1's own running-vs-batch difference feeding bn2 and bn3.
  for (int k = 0; k < 3; ++k) {
    const double shift = bn_input_shift(taps[size_t(k)], cnn.child("bn" + std::to_string(k + 1))->buffer("running_var"));
    CHECK_MESSAGE(shift == doctest::Approx(1).epsilon(0.05), "bn", k + 1);
  }
  // The momentum is back (0.1), and the dropouts are in the net.
  CHECK(static_cast<nn::BatchNorm&>(*cnn.child("bn2")).momentum == 0.1f);
  CHECK(cnn.child("drop2") != nullptr);
}

TEST_CASE("experiments-b: rmsnorm's pre-norm MLP and the timing rounds") {
  manual_seed(8);
  DeepMLP pre({8, 8}, nn::NormConfig{"rms", 32, 16}, /*norm_first=*/false);
  DeepMLP post({8, 8}, nn::NormConfig{"rms", 32, 16}, /*norm_first=*/true);
  Generator gen(9);
  Tensor x = randn({4, 784}, &gen);
  std::vector<Tensor> tp, tq;
  pre.taps = &tp, post.taps = &tq;
  pre(x);
  post(x);
  REQUIRE(tp.size() == 2);
  REQUIRE(tq.size() == 2);
  // Pre-norm: the norms see post-ReLU values; norm-first: the Linear's raw output.
  for (const Tensor& t : tp)
    for (float v : t.to_vector()) CHECK(v >= 0.f);
  bool negative = false;
  for (float v : tq[0].to_vector()) negative |= v < 0.f;
  CHECK(negative);
  const NormTiming t = time_norms(64, 32, 1, 3);
  CHECK(t.layer_norm_ms > 0);
  CHECK(t.rms_norm_ms > 0);
  CHECK(std::isfinite(t.layer_norm_ms + t.rms_norm_ms));
}

TEST_CASE("experiments-b: the classifier loop learns, deterministically") {
  ClassifierData d;
  d.train = blocks_dataset(640, 1), d.test = blocks_dataset(200, 2);
  auto run = [&] {
    manual_seed(init_seed(0));
    DeepMLP model({32}, nn::NormConfig{"bn", 32, 16});
    LoopOptions o;
    o.batch_size = 64, o.lr = 0.05, o.epochs = 2, o.seed = 0;
    int64_t epochs_seen = 0;
    o.after_epoch = [&](int64_t e) { epochs_seen = e; };
    LoopResult r = train_classifier(model, d, o, nullptr);
    CHECK(r.steps == 20);
    CHECK(epochs_seen == 2);
    CHECK_FALSE(r.diverged);
    return std::make_pair(test_accuracy(model, d, 50), model.state_dict()[0].second.to_vector());
  };
  auto [acc1, w1] = run();
  auto [acc2, w2] = run();
  CHECK(acc1 > 0.9);
  CHECK(w1 == w2);
}

TEST_CASE("experiments-b: the classifier loop's options reach the update") {
  ClassifierData d;
  d.train = blocks_dataset(256, 1), d.test = blocks_dataset(64, 2);
  // The first losses and the final weights of a short run with the given changes.
  auto run = [&](const std::function<void(LoopOptions&)>& change) {
    manual_seed(init_seed(0));
    DeepMLP model({16}, nn::NormConfig{"bn", 32, 16});
    LoopOptions o;
    o.batch_size = 64, o.lr = 0.05, o.epochs = 1, o.seed = 0;
    change(o);
    LoopResult r = train_classifier(model, d, o, nullptr);
    return std::make_pair(r.losses, model.state_dict()[0].second.to_vector());
  };
  const auto base = run([](LoopOptions&) {});
  REQUIRE(base.first.size() == 4);
  CHECK(run([](LoopOptions&) {}) == base);  // deterministic, so any difference below is the option's
  // Label smoothing changes the loss from the first step on.
  const auto smooth = run([](LoopOptions& o) { o.label_smoothing = 0.2f; });
  CHECK(smooth.first[0] != base.first[0]);
  // Nesterov and weight decay leave the first loss alone and change the weights.
  const auto nesterov = run([](LoopOptions& o) { o.nesterov = true; });
  CHECK(nesterov.first[0] == base.first[0]);
  CHECK(nesterov.second != base.second);
  const auto decay = run([](LoopOptions& o) { o.weight_decay = 0.1; });
  CHECK(decay.second != base.second);
  // The schedule sets each step's lr: StepLR(1, gamma 0) is the base lr at step 0 and 0 after,
  // so the weights stop where one step left them.
  const auto one_step = run([](LoopOptions& o) { o.max_steps = 1; });
  const auto frozen = run([](LoopOptions& o) { o.schedule = std::make_shared<optim::StepLR>(1, 0.0); });
  CHECK(frozen.second == one_step.second);
  CHECK(frozen.second != base.second);
}
