// train-eval: the classic bug of evaluating a BatchNorm network in training mode. A lenet + BN
// trained by `norma train`'s own loop is evaluated on the test set at batch sizes 1, 2, 8 and
// 128 three ways: eval mode (right: running statistics, no dropout), training mode (the bug:
// each test batch is normalized by its own statistics, and dropout is on) and BN on batch
// statistics with dropout off (BN's share of the damage). The wrong-mode passes restore the
// model's running statistics and mode, so every evaluation sees the same trained model.
#include <algorithm>
#include <cmath>
#include <filesystem>

#include "apps/datasets.h"
#include "apps/experiments/classifier_loop.h"
#include "apps/experiments/experiments_b.h"
#include "apps/run_dir.h"
#include "apps/training.h"
#include "core/norma.h"
#include "data/io.h"
#include "layers/norm/batch_norm.h"
#include "layers/resnet/models.h"

namespace norma::apps::experiments {
namespace fs = std::filesystem;

const char* const kTrainEvalSummary = "a trained lenet + BN evaluated in eval mode vs (wrongly) in training mode";
const char* const kTrainEvalDescription =
    "Trains lenet + BatchNorm on MNIST with norma train's loop (1 epoch, SGD lr 0.05 momentum 0.9, batch "
    "128), then measures test accuracy at test batch sizes 1, 2, 8 and 128 in eval mode, in training mode "
    "(the bug: batch statistics and dropout) and with BN alone on batch statistics; checks what happens at "
    "batch 1. --quick: 150 training steps, 2,000 test images.";

double accuracy_in_mode(nn::Module& model, const data::Batch& batch, int64_t batch_size, EvalMode mode,
                        uint64_t seed) {
  NORMA_CHECK(batch_size >= 1, "accuracy_in_mode: batch size must be at least 1, got ", batch_size);
  const bool was_training = model.is_training();
  nn::NamedTensors saved;  // the running statistics, put back afterwards
  for (auto& [name, t] : model.named_buffers()) saved.emplace_back(name, t.clone());
  model.train(mode == EvalMode::Train);
  if (mode == EvalMode::BatchStats)
    for (auto& [name, m] : model.named_modules())
      if (dynamic_cast<nn::BatchNorm*>(m)) m->train();
  manual_seed(seed);  // dropout's masks in training mode
  auto restore = [&] {
    auto live = model.named_buffers();
    for (size_t k = 0; k < live.size(); ++k) live[k].second.copy_(saved[k].second);
    model.train(was_training);
  };

  const int64_t n = batch.images.size(0);
  int64_t right = 0;
  try {
    NoGradGuard no_grad;
    for (int64_t i = 0; i < n; i += batch_size) {
      const int64_t end = std::min(n, i + batch_size);
      Tensor logits = model(batch.images.slice(0, i, end)).contiguous();
      const int64_t c = logits.size(1);
      const float* z = logits.data();
      for (int64_t r = 0; r < end - i; ++r) {
        const int64_t best = std::max_element(z + r * c, z + (r + 1) * c) - (z + r * c);
        right += best == batch.labels[size_t(i + r)];
      }
    }
  } catch (...) {  // a BN that refuses the batch: the layers before it moved their statistics
    restore();
    throw;
  }
  restore();
  return n ? double(right) / double(n) : 0.0;
}

namespace {
// "97.65%", or "error" where the model refused the batch (NaN).
std::string pct(double a) { return std::isnan(a) ? std::string("error") : strf("%.2f%%", 100 * a); }
}  // namespace

Report run_train_eval(const Context& ctx) {
  const std::vector<int64_t> batch_sizes = {1, 2, 8, 128};
  const int64_t test_images = ctx.quick ? 2000 : 10000;

  // ---- 1. Train lenet + BN with norma train's loop (resumed if a previous attempt was cut) ----
  TrainOptions o;
  o.data = "mnist", o.data_dir = ctx.data_dir, o.model = "lenet", o.norm = "bn";
  o.epochs = 1, o.steps = ctx.max_steps > 0 ? ctx.max_steps : ctx.quick ? 150 : 0, o.batch_size = 128, o.lr = 0.05, o.momentum = 0.9, o.seed = 0;
  o.threads = ctx.threads, o.checkpoint_every = 100;
  const std::string run_name = o.steps > 0 ? strf("lenet-bn-steps%lld", (long long)o.steps) : "lenet-bn-epoch1";
  o.out = (fs::path(ctx.out) / run_name).string();
  nlohmann::json trained = cached_run(ctx, "train-" + run_name, [&] {
    const fs::path ckpt = fs::path(o.out) / "last.ckpt";
    if (fs::exists(ckpt)) o.resume = ckpt.string();
    TrainResult tr = train(o, *ctx.log);
    return nlohmann::json{{"model", (fs::path(o.out) / "model.safetensors").string()}, {"steps", tr.steps},
                          {"test_accuracy", tr.test.accuracy}};
  });
  TrainedModel tm = load_trained_model(trained["model"].get<std::string>());
  nn::Module& model = *tm.module;

  LoadedData ld = load_data(parse_data_spec("mnist"), data::resolve_data_dir(ctx.data_dir), {1, 28, 28},
                            /*train=*/false, *ctx.log);
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < std::min(test_images, ld.test->size()); ++i) idx.push_back(i);
  const data::Batch test = data::make_batch(*ld.test, idx, eval_transforms(ld));

  // ---- 2. Accuracy per batch size and mode ----
  const std::vector<std::pair<EvalMode, std::string>> modes = {
      {EvalMode::Eval, "eval"}, {EvalMode::Train, "train"}, {EvalMode::BatchStats, "bn-batch-stats"}};
  std::vector<std::vector<double>> acc(modes.size());  // [mode][batch size]; NaN: the model refused the batch
  std::vector<std::string> errors(modes.size());       // [mode]: the first refusal
  std::vector<std::vector<std::string>> rows;
  for (size_t m = 0; m < modes.size(); ++m)
    for (int64_t b : batch_sizes) {
      const std::string key = strf("acc-%s-b%lld-n%lld", modes[m].second.c_str(), (long long)b, (long long)idx.size());
      nlohmann::json r = cached_run(ctx, key, [&] {
        *ctx.log << "  " << modes[m].second << " mode, test batch " << b << "\n" << std::flush;
        try {
          return nlohmann::json{{"accuracy", accuracy_in_mode(model, test, b, modes[m].first, 0)}};
        } catch (const Error& e) {  // e.g. lenet's BatchNorm1d refusing one value per channel
          return nlohmann::json{{"accuracy", nullptr}, {"error", e.what()}};
        }
      });
      const bool failed = r["accuracy"].is_null();
      acc[m].push_back(failed ? std::nan("") : r["accuracy"].get<double>());
      if (failed && errors[m].empty()) errors[m] = strf("batch %lld: %s", (long long)b, r["error"].get<std::string>().c_str());
      rows.push_back({modes[m].second, std::to_string(b), failed ? "error" : strf("%.4f", acc[m].back())});
    }
  write_csv(ctx, "train-eval.csv", {"mode", "test_batch", "accuracy"}, rows);

  // ---- 3. Batch 1 with one value per channel: a BatchNorm1d net (the built-in mlp) ----
  std::string bn1d_error;
  {
    manual_seed(0);
    auto mlp = nn::make_model("mlp", nn::NormConfig{"bn", 32, 16});
    mlp->train();
    try {
      (*mlp)(test.images.slice(0, 0, 1));
    } catch (const Error& e) {
      bn1d_error = e.what();
    }
  }

  // ---- 4. Report ----
  Report rep;
  rep.title = "Evaluating a BatchNorm network in training mode (the train/eval bug)";
  rep.setup = strf(
      "lenet + BatchNorm (2 x conv 3x3 + BN + relu + max-pool, fc 3136-128 + BatchNorm1d + relu, fc 128-10) trained on "
      "MNIST by norma train's loop: %lld steps (%s), SGD lr 0.05 momentum 0.9, batch 128, seed 0 (test accuracy at the end of "
      "training, eval mode: %.2f%%). Then the first %lld test images, in order, cut into consecutive batches of "
      "1, 2, 8 and 128, are classified three ways:\n\n"
      "- **eval**: `model.eval()`, the right way (running statistics, dropout off);\n"
      "- **train**: `model.train()`, the bug: each BN normalizes the test batch by its own statistics (and "
      "dropout, in a model that has it, drops units);\n"
      "- **bn-batch-stats**: BN on batch statistics, everything else in eval mode: BN's share of the bug (the same "
      "as train for lenet, which has no dropout).\n\n"
      "The wrong-mode passes run without gradients and put the running statistics and the mode back "
      "afterwards, so each evaluation sees the trained model unchanged.",
      (long long)trained["steps"].get<int64_t>(), ctx.quick ? "--quick" : "1 epoch", 100 * trained["test_accuracy"].get<double>(),
      (long long)idx.size());

  Plot plot;
  plot.file = "train-eval-accuracy";
  plot.title = "lenet + BN on MNIST: test accuracy vs test batch size";
  plot.xlabel = "test batch size", plot.ylabel = "test accuracy (%)", plot.logx = true;
  rep.results = "| test batch | eval | train (the bug) | BN batch stats, no dropout |\n| --- | --- | --- | --- |\n";
  for (size_t m = 0; m < modes.size(); ++m) {
    Series s;
    s.title = modes[m].second;
    for (size_t k = 0; k < batch_sizes.size(); ++k) s.x.push_back(double(batch_sizes[k])), s.y.push_back(100 * acc[m][k]);
    plot.series.push_back(s);
  }
  for (size_t k = 0; k < batch_sizes.size(); ++k)
    rep.results += strf("| %lld | %s | %s | %s |\n", (long long)batch_sizes[k], pct(acc[0][k]).c_str(),
                        pct(acc[1][k]).c_str(), pct(acc[2][k]).c_str());
  render_plot(ctx, plot);
  rep.figures.push_back(plot.file);

  const auto [lo, hi] = std::minmax_element(acc[0].begin(), acc[0].end());  // eval never refuses a batch
  Claim same;
  same.claim = "In eval mode the prediction of an image does not depend on the test batch it comes in.";
  same.verdict = *hi - *lo <= 0.0002 ? Verdict::Pass : Verdict::Fail;
  same.evidence = strf("eval accuracy %.2f%% / %.2f%% / %.2f%% / %.2f%% at batch 1 / 2 / 8 / 128 (spread %.2f points; "
                       "pass: at most 0.02)",
                       100 * acc[0][0], 100 * acc[0][1], 100 * acc[0][2], 100 * acc[0][3], 100 * (*hi - *lo));
  rep.claims.push_back(same);

  Claim bug;
  bug.claim = "Evaluating in training mode costs accuracy, the more the smaller the test batch: eval() matters.";
  const double drop2 = acc[0][1] - acc[1][1];
  bug.verdict = drop2 >= 0.01 && acc[1][1] < acc[1][3] ? Verdict::Pass : Verdict::Fail;
  bug.evidence = strf("training mode: %s / %s / %s / %s at batch 1 / 2 / 8 / 128 vs %.2f%% in eval; "
                      "at batch 2 %.2f points lost (pass: at least 1 point lost at batch 2, and batch 2 worse than 128)",
                      pct(acc[1][0]).c_str(), pct(acc[1][1]).c_str(), pct(acc[1][2]).c_str(), pct(acc[1][3]).c_str(),
                      100 * acc[0][3], 100 * drop2);
  rep.claims.push_back(bug);

  Claim one;
  one.claim = "A BatchNorm layer in training mode refuses a batch that leaves one value per channel, with a clear error.";
  one.verdict = bn1d_error.find("more than 1 value per channel") != std::string::npos ? Verdict::Pass : Verdict::Fail;
  one.evidence = bn1d_error.empty() ? "the built-in mlp (BatchNorm1d) in training mode accepted a batch of 1: no error"
                                    : "the built-in mlp (BatchNorm1d) in training mode, batch of 1: `" + bn1d_error + "`";
  rep.claims.push_back(one);

  Claim lenet1;
  lenet1.claim = "lenet evaluated in training mode fails at test batch 1 with a clear error.";
  const bool refused = errors[1].find("more than 1 value per channel") != std::string::npos;
  lenet1.verdict = refused ? Verdict::Pass : Verdict::Fail;
  lenet1.evidence = refused ? "`" + errors[1] + "` (lenet's BatchNorm2d layers would still have 784 and 196 values per "
                                                "channel; its BatchNorm1d after fc1 has one per feature)"
                            : strf("no error at batch 1: accuracy %s", pct(acc[1][0]).c_str());
  rep.claims.push_back(lenet1);

  rep.notes =
      "The error in claim 3 comes from norma's fused batch_norm (layers/norm/batch_norm.cpp), which checks that "
      "each (chunk, channel) statistic has more than one value in training, as PyTorch does. The training-mode "
      "columns also move the running statistics during the pass; they are restored afterwards (the model is "
      "the same for every row).";
  return rep;
}

Experiment train_eval_experiment() {
  return {"train-eval", kTrainEvalSummary, kTrainEvalDescription, run_train_eval};
}

}  // namespace norma::apps::experiments
