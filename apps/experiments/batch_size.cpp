// batch-size: BatchNorm's dependence on the batch size, against GroupNorm, LayerNorm and no
// norm (Wu & He 2018, Fig. 1; Ba et al. 2016, Fig. 6). lenet on MNIST with each norm at batch
// sizes from 2 to 128, one epoch each, the LR scaled linearly with the batch size.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "apps/experiments/experiment.h"
#include "apps/experiments/train_run.h"

namespace norma::apps::experiments {
using json = nlohmann::json;

namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

constexpr double kBaseLr = 0.05;
constexpr int64_t kBaseBatch = 128, kQuickImages = 6000;
const std::vector<std::string> kNorms = {"bn", "gn", "ln", "none"};
const std::vector<std::string> kLabels = {"BatchNorm", "GroupNorm", "LayerNorm", "no norm"};

// How much worse the small batches (2 and 4, those in the grid) are than the best of the large
// ones (16 and up): max error at small - min error at large. NaN without both kinds.
double degradation(const std::vector<int64_t>& batches, const std::vector<double>& error) {
  double small = -INFINITY, large = INFINITY;
  for (size_t i = 0; i < batches.size(); ++i) {
    if (batches[i] <= 4) small = std::max(small, error[i]);
    if (batches[i] >= 16) large = std::min(large, error[i]);
  }
  return std::isfinite(small) && std::isfinite(large) ? small - large : NAN;
}

Report run_batch_size(const Context& ctx) {
  const int seeds = ctx.seeds_or(1);
  const std::vector<int64_t> batches =
      ctx.quick ? std::vector<int64_t>{2, 4, 16, 128} : std::vector<int64_t>{2, 4, 8, 16, 32, 128};

  // error[norm][batch]: mean test error over seeds (NaN when a seed diverged)
  std::vector<std::vector<double>> error(kNorms.size(), std::vector<double>(batches.size(), 0.0));
  std::vector<std::vector<std::string>> rows;
  for (size_t n = 0; n < kNorms.size(); ++n)
    for (size_t b = 0; b < batches.size(); ++b)
      for (int s = 0; s < seeds; ++s) {
        TrainOptions o;
        o.data = "mnist", o.model = "lenet", o.norm = kNorms[n], o.seed = uint64_t(s);
        o.batch_size = batches[b], o.lr = kBaseLr * double(batches[b]) / double(kBaseBatch), o.momentum = 0.9;
        o.epochs = 1, o.checkpoint_every = 2000;
        if (ctx.quick) o.steps = kQuickImages / batches[b];
        if (ctx.max_steps > 0) o.steps = o.steps > 0 ? std::min(o.steps, ctx.max_steps) : ctx.max_steps;
        const std::string key = kNorms[n] + "-b" + std::to_string(batches[b]) + "-seed" + std::to_string(s) +
                                (o.steps > 0 ? "-steps" + std::to_string(o.steps) : "-e1");
        json r = train_run(ctx, key, o);
        const bool diverged = r["diverged"].get<bool>();
        const double err = diverged ? NAN : 1.0 - r["test_accuracy"].get<double>();
        error[n][b] += err / double(seeds);
        rows.push_back({kNorms[n], std::to_string(batches[b]), fmt("%g", o.lr), std::to_string(s),
                        diverged ? "1" : "0", diverged ? "" : fmt("%.6f", err)});
      }
  write_csv(ctx, "batch_size.csv", {"norm", "batch_size", "lr", "seed", "diverged", "test_error"}, rows);

  Report r;
  r.title = "BatchNorm's dependence on the batch size vs GroupNorm and LayerNorm (Wu & He 2018, Fig. 1)";
  std::ostringstream setup;
  setup << "- Model: `lenet` (2 x conv 3x3 32/64 + norm + relu + maxpool 2, fc 3136-128 + norm + relu, fc 128-10; "
           "no dropout) with `--norm` bn (BatchNorm2d, BatchNorm1d after fc 3136-128), gn (GroupNorm with 16 groups: 2 and 4 channels per group), ln "
           "(GroupNorm(1, C): LayerNorm over C, H, W with a per-channel affine, Wu & He's LN) or none.\n"
        << "- Training: `norma train`'s loop on MNIST (normalized by its mean and std), SGD momentum 0.9, constant LR, "
        << (ctx.quick ? std::to_string(kQuickImages) + " images (steps = " + std::to_string(kQuickImages) +
                            " / batch size), not a whole epoch"
                      : std::string("one epoch (60,000 images) at every batch size"))
        << (ctx.max_steps > 0 ? ", at most " + std::to_string(ctx.max_steps) + " steps" : std::string()) << "; seeds 0-"
        << seeds - 1 << ".\n"
        << "- LR rule: lr = 0.05 x batch size / 128 (linear scaling: 0.05 at 128, 0.00078 at 2).\n"
        << "- Test error on the 10,000 test images in eval mode (BN with its running statistics), batches of the "
           "training batch size.\n"
        << "- Degradation of a norm: its largest error at batch 2-4 minus its smallest at batch 16 and up.\n"
        << "- Verdicts: BN degrades: PASS at a degradation of at least 1 point (0.01), FAIL under 0.3 points. GN "
           "and LN stay nearly flat: PASS when each degrades less than half as much as BN (and BN does degrade), "
           "FAIL when either degrades as much as BN.";
  r.setup = setup.str();

  Plot p{"error-vs-batch", "lenet on MNIST: test error vs batch size (LR = 0.05 x B / 128)", "batch size",
         "test error", true, false, {}};
  std::ostringstream res;
  res << "| batch | lr |";
  for (const std::string& l : kLabels) res << " " << l << " |";
  res << "\n| --- | --- | --- | --- | --- | --- |\n";
  for (size_t b = 0; b < batches.size(); ++b) {
    res << "| " << batches[b] << " | " << fmt("%g", kBaseLr * double(batches[b]) / double(kBaseBatch)) << " |";
    for (size_t n = 0; n < kNorms.size(); ++n)
      res << " " << (std::isfinite(error[n][b]) ? fmt("%.4f", error[n][b]) : std::string("diverged")) << " |";
    res << "\n";
  }
  std::vector<double> deg(kNorms.size());
  res << "\nDegradation (error at batch 2-4 minus the best at 16+):";
  for (size_t n = 0; n < kNorms.size(); ++n) {
    Series s{kLabels[n], {}, {}, {}, {}};
    for (size_t b = 0; b < batches.size(); ++b) s.x.push_back(double(batches[b])), s.y.push_back(error[n][b]);
    p.series.push_back(s);
    deg[n] = degradation(batches, error[n]);
    res << (n ? "," : "") << " " << kLabels[n] << " " << fmt("%+.4f", deg[n]);
  }
  res << ".\n";
  render_plot(ctx, p);
  r.figures.push_back(p.file);
  r.results = res.str();

  const double bn = deg[0], gn = deg[1], ln = deg[2];
  const Verdict bn_v = !std::isfinite(bn) ? Verdict::Inconclusive
                       : bn >= 0.01       ? Verdict::Pass
                       : bn < 0.003       ? Verdict::Fail
                                          : Verdict::Inconclusive;
  r.claims.push_back({"BatchNorm's test error degrades at batch sizes 2-4", bn_v,
                      "BN degradation " + fmt("%+.4f", bn) + " (PASS >= +0.01, FAIL < +0.003)"});
  const Verdict flat_v = !(std::isfinite(bn) && std::isfinite(gn) && std::isfinite(ln)) ? Verdict::Inconclusive
                         : (gn >= bn || ln >= bn)                                      ? Verdict::Fail
                         : (bn > 0 && gn < bn / 2 && ln < bn / 2)                      ? Verdict::Pass
                                                                                       : Verdict::Inconclusive;
  r.claims.push_back({"GroupNorm and LayerNorm stay nearly flat (each degrades less than half as much as BN)", flat_v,
                      "degradation: BN " + fmt("%+.4f", bn) + ", GN " + fmt("%+.4f", gn) + ", LN " + fmt("%+.4f", ln) +
                          ", no norm " + fmt("%+.4f", deg[3])});
  r.notes =
      "Same epochs at every batch size means 64x more (and 64x smaller) steps at batch 2 than at 128, as in Wu & He's "
      "protocol. Part of BN's loss at tiny batches shows in eval mode only: its running statistics, averaged over "
      "noisy 2-sample estimates, do not match the per-batch statistics it trained with.";
  return r;
}

}  // namespace

Experiment batch_size_experiment() {
  Experiment e;
  e.name = "batch-size";
  e.summary = "BN degrades at tiny batches while GroupNorm and LayerNorm stay flat (Wu & He 2018, Fig. 1)";
  e.description =
      "lenet on MNIST with bn, gn, ln and no norm at batch sizes {2, 4, 8, 16, 32, 128}, one epoch each, SGD momentum "
      "0.9, LR = 0.05 x batch / 128, 1 seed: test error vs batch size. --quick: batches {2, 4, 16, 128}, 6,000 images "
      "each.";
  e.run = run_batch_size;
  return e;
}

}  // namespace norma::apps::experiments
