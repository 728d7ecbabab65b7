// norma train / eval / predict, run through their functions (apps/training.h, apps/inference.h)
// on tiny synthetic data sets: MNIST-shaped IDX files written to a scratch data dir, and a
// folder of PNGs.
#include <doctest/doctest.h>
#include <stb/stb_image_write.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "apps/inference.h"
#include "apps/run_dir.h"
#include "apps/training.h"
#include "core/norma.h"
#include "checkpoint_helpers.h"
#include "data_helpers.h"
#include "layers/checkpoint.h"

using namespace norma;
using namespace norma_test;
using apps::TrainOptions;

namespace {

TrainOptions tiny_options(const std::string& data_dir, const std::string& out) {
  TrainOptions o;
  o.data_dir = data_dir, o.out = out;
  o.batch_size = 8, o.lr = 0.05, o.threads = 2, o.seed = 3;
  o.log_every = 2, o.checkpoint_every = 4;
  return o;
}

std::vector<nlohmann::json> read_metrics(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

// The last {"test_accuracy": ...} record.
nlohmann::json last_eval(const std::vector<nlohmann::json>& metrics) {
  for (auto it = metrics.rbegin(); it != metrics.rend(); ++it)
    if (it->contains("test_accuracy")) return *it;
  FAIL("no evaluation in metrics.jsonl");
  return {};
}

}  // namespace

TEST_CASE("train: a run cut in three and resumed ends with the same weights as one straight run") {
  TempDir tmp("train_resume");
  write_tiny_mnist(tmp / "data", 48, 20);  // 6 batches of 8 per epoch
  std::ostringstream log;

  // The batch order of every epoch, the optimizer state and the BatchNorm running statistics
  // must all come out the same after a resume.
  TrainOptions straight = tiny_options(tmp / "data", tmp / "straight");
  straight.steps = 14;  // epochs 1 and 2, then 2 steps of the third
  apps::TrainResult a = apps::train(straight, log);
  CHECK(a.steps == 14);
  CHECK_FALSE(a.interrupted);

  TrainOptions cut = tiny_options(tmp / "data", tmp / "cut");
  cut.steps = 14;
  cut.stop_after = 5;  // in the middle of epoch 1
  apps::TrainResult b = apps::train(cut, log);
  CHECK(b.interrupted);
  CHECK(b.steps == 5);
  cut.resume = tmp / "cut/last.ckpt";
  cut.stop_after = 4;  // across the end of epoch 1, to the middle of epoch 2
  b = apps::train(cut, log);
  CHECK(b.steps == 9);
  cut.stop_after = 0;
  b = apps::train(cut, log);
  CHECK(b.steps == 14);
  CHECK_FALSE(b.interrupted);

  check_same_tensors(tmp / "straight/model.safetensors", tmp / "cut/model.safetensors");
  check_same_tensors(tmp / "straight/last.ckpt", tmp / "cut/last.ckpt");  // optimizer state too
  // The evaluations after each epoch agree, and the resumed run's metrics have no duplicates.
  auto ma = read_metrics(tmp / "straight/metrics.jsonl"), mb = read_metrics(tmp / "cut/metrics.jsonl");
  CHECK(ma.size() == mb.size());
  CHECK(last_eval(ma)["test_loss"] == last_eval(mb)["test_loss"]);
  CHECK(a.test.accuracy == b.test.accuracy);
  // The training learned something (the bars are easy): the training loss went down.
  nlohmann::json last_logged;
  for (const auto& m : ma)
    if (m.contains("loss")) last_logged = m;
  CHECK(double(last_logged["loss"]) < double(ma[0]["loss"]));

  // Resuming with other settings is refused, naming the flag.
  TrainOptions other = cut;
  other.lr = 0.1;
  CHECK_ERROR(apps::train(other, log), "--lr 0.05 (not 0.1)");
  // A fresh run into a directory that holds one is refused too.
  CHECK_ERROR(apps::train(straight, log), "holds a run already");
}

TEST_CASE("train: a diverging run stops naming the step, records it and keeps a loadable checkpoint") {
  TempDir tmp("train_diverge");
  write_tiny_mnist(tmp / "data", 48, 20);
  std::ostringstream log;
  TrainOptions o = tiny_options(tmp / "data", tmp / "run");
  o.lr = 1e4, o.steps = 30;  // lenet with BatchNorm: the loss explodes but stays finite
  o.checkpoint_every = 1;
  CHECK_ERROR(apps::train(o, log), "training diverged at step");
  CHECK_ERROR(apps::train(o, log), "holds a run already");  // the directory was kept
  std::string message;
  try {
    o.out = tmp / "run2";
    apps::train(o, log);
  } catch (const Error& e) {
    message = e.what();
  }
  CHECK(message.find("lower learning rate") != std::string::npos);
  CHECK(message.find(tmp / "run2/last.ckpt") != std::string::npos);
  auto metrics = read_metrics(tmp / "run/metrics.jsonl");
  REQUIRE(!metrics.empty());
  CHECK(metrics.back()["event"] == "diverged");
  CHECK(metrics.back()["step"].get<int64_t>() >= 1);

  // The last good checkpoint loads, model and optimizer, with finite weights.
  apps::Checkpoint ckpt = apps::load_checkpoint(tmp / "run/last.ckpt");
  CHECK(ckpt.state.step == metrics.back()["step"].get<int64_t>() - 1);  // checkpointed every step
  apps::TrainedModel m = apps::load_trained_model(tmp / "run/last.ckpt");
  int64_t non_finite = 0;
  for (const auto& [name, t] : m.module->state_dict())
    for (float v : t.to_vector()) non_finite += !std::isfinite(v);
  CHECK(non_finite == 0);
  CHECK(m.module->num_parameters() > 0);
}

// With the loss limit out of the way (--max-loss 1e38) the same run must still never finish
// "done" with a non-finite model: the NaN shows up in the training loss or the test loss.
TEST_CASE("train: a run whose weights or statistics become non-finite never ends as done") {
  TempDir tmp("train_nan");
  write_tiny_mnist(tmp / "data", 48, 20);
  std::ostringstream log;
  TrainOptions o = tiny_options(tmp / "data", tmp / "run");
  o.lr = 1e4, o.steps = 30, o.max_loss = 1e38;
  CHECK_ERROR(apps::train(o, log), "training diverged at step");
  auto metrics = read_metrics(tmp / "run/metrics.jsonl");
  REQUIRE(!metrics.empty());
  CHECK(metrics.back()["event"] == "diverged");
}

TEST_CASE("train: impossible options are rejected before any work, naming the flag") {
  TempDir tmp("train_flags");
  std::ostringstream log;
  TrainOptions o = tiny_options(tmp / "data", tmp / "run");
  auto with = [&](auto change) {
    TrainOptions x = o;
    change(x);
    return x;
  };
  CHECK_ERROR(apps::train(with([](TrainOptions& x) { x.batch_size = 0; }), log), "--batch-size must be at least 1, got 0");
  CHECK_ERROR(apps::train(with([](TrainOptions& x) { x.lr = -0.1; }), log), "--lr must be a positive number, got -0.1");
  CHECK_ERROR(apps::train(with([](TrainOptions& x) { x.data = "cifar10"; }), log),
              "--model lenet takes [1, 28, 28] images, but --data cifar10 has [3, 32, 32]");
  CHECK_ERROR(apps::train(with([](TrainOptions& x) { x.model = "alexnet"; }), log),
              "--model: unknown choice 'alexnet' (valid: mlp, lenet, vgg, resnet20");
  CHECK_ERROR(apps::train(with([](TrainOptions& x) { x.norm = "bogus"; }), log), "--norm: unknown choice 'bogus'");
  CHECK_ERROR(apps::train(with([](TrainOptions& x) { x.data = "imagenet"; }), log),
              "--data: unknown data set 'imagenet' (valid: mnist, fashion-mnist, cifar10, folder:PATH)");
  CHECK_ERROR(apps::train(with([](TrainOptions& x) { x.epochs = 0; }), log), "--epochs must be at least 1");
  CHECK_ERROR(apps::train(with([](TrainOptions& x) { x.momentum = 1.5; }), log), "--momentum must be in [0, 1)");
  CHECK_ERROR(apps::train(with([](TrainOptions& x) { x.optimizer = "lbfgs"; }), log), "--optimizer: unknown choice");
  CHECK_ERROR(apps::train(with([](TrainOptions& x) { x.model = "mlp", x.norm = "in"; }), log),
              "--norm in does not fit --model mlp");
  CHECK_ERROR(apps::train(with([](TrainOptions& x) { x.steps = 10, x.schedule = "cosine", x.warmup = 10; }), log),
              "--warmup (10 steps) must be shorter than the run");
  CHECK_ERROR(apps::train(with([](TrainOptions& x) { x.resume = "nowhere/last.ckpt"; }), log),
              "--resume: cannot open nowhere/last.ckpt");
  // Nothing was fetched or written.
  CHECK_FALSE(fs::exists(tmp / "data"));
  CHECK_FALSE(fs::exists(tmp / "run"));
  CHECK(log.str().empty());
}

TEST_CASE("train: eval of the saved model prints the accuracy of the run's last evaluation") {
  TempDir tmp("train_eval");
  write_tiny_mnist(tmp / "data", 48, 30);
  std::ostringstream log;
  TrainOptions o = tiny_options(tmp / "data", tmp / "run");
  o.model = "mlp", o.steps = 9, o.optimizer = "adam", o.lr = 1e-2, o.weight_decay = 1e-3;
  apps::TrainResult r = apps::train(o, log);
  const nlohmann::json last = last_eval(read_metrics(tmp / "run/metrics.jsonl"));
  CHECK(last["step"] == 9);
  CHECK(last["test_accuracy"].get<double>() == r.test.accuracy);

  for (const std::string file : {"model.safetensors", "last.ckpt"}) {
    std::ostringstream out;
    apps::EvalResult e = apps::eval_checkpoint(tmp / ("run/" + file), "", tmp / "data", 0, out);
    CHECK(e.count == 30);
    CHECK(e.accuracy == last["test_accuracy"].get<double>());
    CHECK(e.loss == doctest::Approx(last["test_loss"].get<double>()).epsilon(1e-12));
    char acc[32];
    std::snprintf(acc, sizeof acc, "accuracy %.2f%%", 100.0 * e.accuracy);
    CHECK(out.str().find(acc) != std::string::npos);
    CHECK(out.str().find("confusion matrix") != std::string::npos);
    int64_t total = 0;
    for (int64_t v : e.confusion) total += v;
    CHECK(total == 30);
  }
  // The model file carries what eval needs; eval of another shape of data is refused.
  CHECK_ERROR(apps::eval_checkpoint(tmp / "run/model.safetensors", "cifar10", tmp / "data", 0, log),
              "--data cifar10 has [3, 32, 32] images");
  CHECK_ERROR(apps::eval_checkpoint(tmp / "run/missing.safetensors", "", tmp / "data", 0, log),
              "run/missing.safetensors");
}

TEST_CASE("train: a folder of images trains, and predict ranks the classes of image files") {
  TempDir tmp("train_folder");
  // Two classes of 12x12 RGB images: dark ones and bright ones.
  Generator gen(11);
  auto write_png = [&](const std::string& path, int base) {
    std::vector<uint8_t> px(12 * 12 * 3);
    for (auto& p : px) p = uint8_t(base + int(gen.randint(30)));
    fs::create_directories(fs::path(path).parent_path());
    REQUIRE(stbi_write_png(path.c_str(), 12, 12, 3, px.data(), 12 * 3) != 0);
  };
  for (int i = 0; i < 20; ++i) {
    write_png(tmp / ("imgs/dark/" + std::to_string(i) + ".png"), 10);
    write_png(tmp / ("imgs/light/" + std::to_string(i) + ".png"), 200);
  }
  std::ostringstream log;
  TrainOptions o = tiny_options("", tmp / "run");
  o.data = "folder:" + (tmp / "imgs");
  o.model = "mlp", o.epochs = 3, o.lr = 0.1;
  apps::TrainResult r = apps::train(o, log);
  CHECK(r.test.count == 4);  // every 10th of the 40 images is held out
  CHECK(r.test.accuracy == 1.0);

  auto preds = apps::predict_images(tmp / "run/model.safetensors", {tmp / "imgs/dark/3.png", tmp / "imgs/light/5.png"}, 5);
  REQUIRE(preds.size() == 2);
  REQUIRE(preds[0].top.size() == 2);  // only two classes to rank
  CHECK(preds[0].top[0].first == "dark");
  CHECK(preds[1].top[0].first == "light");
  CHECK(preds[0].top[0].second + preds[0].top[1].second == doctest::Approx(1.0));
  CHECK(preds[0].top[0].second >= preds[0].top[1].second);
  CHECK_ERROR(apps::predict_images(tmp / "run/model.safetensors", {tmp / "nope.png"}, 5), "nope.png");
}
