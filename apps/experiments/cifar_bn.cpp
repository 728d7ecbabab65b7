// cifar-bn: BatchNorm on CIFAR-10 ResNets and VGGs (Ioffe & Szegedy 2015; Santurkar et al. 2018,
// Fig. 1). resnet20 and vgg with BN, with no normalization (convs with a bias, the same init) and
// with GroupNorm, at peak LRs 0.02, 0.1 and 0.4 of a 10-epoch one-cycle: BN should converge faster
// and keep training at the large LR where the unnormalized net diverges or stalls.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "apps/experiments/cifar_runs.h"
#include "apps/experiments/classifier_loop.h"
#include "apps/experiments/train_run.h"

namespace norma::apps::experiments {
using json = nlohmann::json;

namespace {

const std::vector<std::string> kModels = {"resnet20", "vgg"};
const std::vector<std::string> kNorms = {"bn", "none", "gn"};
const std::vector<std::string> kNormLabels = {"BN", "no norm", "GN"};
constexpr int64_t kEpochs = 10, kQuickSteps = 40;
constexpr int64_t kEarlyEpoch = 2;  // "converges faster": the accuracy after this many epochs

Report run_cifar_bn(const Context& ctx) {
  const std::vector<double> lrs = ctx.quick ? std::vector<double>{0.02, 0.4} : std::vector<double>{0.02, 0.1, 0.4};
  const uint64_t seed = 0;
  // runs[m][n][l]
  std::vector<std::vector<std::vector<json>>> runs(kModels.size(), std::vector<std::vector<json>>(kNorms.size()));
  std::vector<std::vector<std::string>> rows;
  double seconds = 0;
  int64_t steps = 0;
  for (size_t m = 0; m < kModels.size(); ++m)
    for (size_t n = 0; n < kNorms.size(); ++n)
      for (double lr : lrs) {
        TrainOptions o = cifar_recipe(ctx, kModels[m], kNorms[n], lr, kEpochs, seed, kQuickSteps);
        json r = train_run(ctx, cifar_key(o), o);
        runs[m][n].push_back(r);
        const bool div = r["diverged"].get<bool>();
        if (!div) seconds += r["seconds"].get<double>(), steps = r["steps"].get<int64_t>();
        rows.push_back({kModels[m], kNorms[n], strf("%g", lr), div ? "1" : "0",
                        ctx.quick ? "" : accuracy_text(accuracy_at_epoch(r, kEarlyEpoch)),
                        accuracy_text(final_accuracy(r), div),
                        strf("%.4f", last_epoch_loss(r)), div ? "" : strf("%.0f", r["seconds"].get<double>())});
      }
  write_csv(ctx, "cifar_bn.csv",
            {"model", "norm", "lr", "diverged", "test_accuracy_epoch2", "test_accuracy", "last_epoch_train_loss",
             "seconds"},
            rows);

  Report rep;
  rep.title = "BatchNorm on CIFAR-10: faster convergence and larger usable learning rates (resnet20, vgg)";
  std::ostringstream setup;
  setup << "- Models: `resnet20` (He et al. 2016a, 0.27M parameters) and `vgg` (conv 32-32-pool-64-64-pool-128-128-"
           "pool, global average pool, fc; 0.29M), each with `--norm` bn (BatchNorm2d), none (no normalization: "
           "every conv gets a bias, the init is otherwise the same) or gn (GroupNorm with at most 16 groups).\n"
        << "- Recipe (`norma train`'s loop): CIFAR-10 50,000 training images with pad-4 random crop + horizontal "
           "flip, batch 128, SGD momentum 0.9, weight decay 5e-4 (not on norm parameters and biases), one-cycle LR "
           "(PyTorch's OneCycleLR defaults: 30% warm-up from peak/25, cosine down to peak/25e4, momentum cycled "
           "0.85-0.95) at peak LR "
        << (ctx.quick ? "0.02 and 0.4" : "0.02, 0.1 and 0.4") << ", "
        << (ctx.quick ? strf("%lld steps only (--quick: a smoke test, not the claim's protocol)", (long long)steps)
                      : strf("%lld epochs", (long long)kEpochs))
        << ", seed 0.\n"
        << "- Test accuracy on the 10,000 test images after every epoch (eval mode); training loss logged as the "
           "mean of every 10 steps; a loss above 1e4 or NaN ends a run as diverged.\n"
        << "- Verdicts. Faster: per model, the best (over LRs) test accuracy after epoch " << kEarlyEpoch
        << " with BN minus the best without; PASS when it is at least +2 points for both models, FAIL when it is "
           "negative for either. Larger LR: at LR 0.4, PASS when for both models the unnormalized net diverges "
           "or ends at least 10 points below BN, FAIL when it ends within 2 points of BN (or above) for either.\n"
        << strf("- Training time: %.0f s for all runs (2 cores).", seconds);
  rep.setup = setup.str();

  std::ostringstream res;
  res << "| model | norm |";
  if (!ctx.quick)
    for (double lr : lrs) res << " LR " << strf("%g", lr) << " after epoch " << kEarlyEpoch << " |";
  for (double lr : lrs) res << " LR " << strf("%g", lr) << " final |";
  res << "\n| --- | --- |";
  for (size_t i = 0; i < lrs.size() * (ctx.quick ? 1 : 2); ++i) res << " --- |";
  res << "\n";
  for (size_t m = 0; m < kModels.size(); ++m) {
    Plot acc{"accuracy-" + kModels[m], kModels[m] + " on CIFAR-10: test accuracy per epoch", "epoch",
             "test accuracy", false, false, {}};
    Plot loss{"loss-" + kModels[m], kModels[m] + " on CIFAR-10: training loss (mean of 10 steps)", "step",
              "training loss", false, true, {}};
    for (size_t n = 0; n < kNorms.size(); ++n) {
      res << "| " << kModels[m] << " | " << kNormLabels[n] << " |";
      if (!ctx.quick)
        for (size_t l = 0; l < lrs.size(); ++l) res << " " << accuracy_text(accuracy_at_epoch(runs[m][n][l], kEarlyEpoch)) << " |";
      for (size_t l = 0; l < lrs.size(); ++l) {
        const json& r = runs[m][n][l];
        res << " " << accuracy_text(final_accuracy(r), r["diverged"].get<bool>()) << " |";
        const std::string title = kNormLabels[n] + " lr " + strf("%g", lrs[l]);
        acc.series.push_back(accuracy_series(title, r, kCifarStepsPerEpoch));
        loss.series.push_back(loss_series(title, r));
      }
      res << "\n";
    }
    render_plot(ctx, acc), render_plot(ctx, loss);
    rep.figures.push_back(acc.file), rep.figures.push_back(loss.file);
  }
  rep.results = res.str();

  // Faster convergence: best-over-LR accuracy at the early epoch, BN minus no norm.
  const int64_t early = ctx.quick ? kEpochs : kEarlyEpoch;  // quick: the only evaluation, at the end
  auto best_at = [&](size_t m, size_t n) {
    double best = NAN;
    for (const json& r : runs[m][n]) {
      const double a = r["diverged"].get<bool>() ? NAN : accuracy_at_epoch(r, early);
      if (!std::isnan(a) && !(a <= best)) best = a;
    }
    return best;
  };
  std::vector<double> gain;
  std::string ev;
  for (size_t m = 0; m < kModels.size(); ++m) {
    const double bn = best_at(m, 0), none = best_at(m, 1);
    gain.push_back(std::isnan(none) ? bn : bn - none);  // no-norm runs that all diverged: BN's whole accuracy
    ev += (m ? "; " : "") + kModels[m] + ": BN " + accuracy_text(bn) + " vs no norm " + accuracy_text(none) + " (" +
          strf("%+.4f", gain.back()) + ")";
  }
  const bool all_big = std::all_of(gain.begin(), gain.end(), [](double g) { return g >= 0.02; });
  const bool any_neg = std::any_of(gain.begin(), gain.end(), [](double g) { return !(g >= 0); });
  rep.claims.push_back({strf("With BN the nets converge faster (best test accuracy after %s)",
                             ctx.quick ? "the quick run" : strf("epoch %lld", (long long)kEarlyEpoch).c_str()),
                        all_big ? Verdict::Pass : any_neg ? Verdict::Fail : Verdict::Inconclusive, ev});

  // Larger usable LR: at the largest LR, no norm diverges or ends far below BN.
  const size_t big = lrs.size() - 1;
  int far = 0, close = 0;
  ev.clear();
  for (size_t m = 0; m < kModels.size(); ++m) {
    const json &bn = runs[m][0][big], &none = runs[m][1][big];
    const double a_bn = final_accuracy(bn), a_none = final_accuracy(none);
    if (none["diverged"].get<bool>() || a_none <= a_bn - 0.10) ++far;
    if (!none["diverged"].get<bool>() && a_none >= a_bn - 0.02) ++close;
    ev += (m ? "; " : "") + kModels[m] + " at LR " + strf("%g", lrs[big]) + ": BN " +
          accuracy_text(a_bn, bn["diverged"].get<bool>()) + ", no norm " +
          accuracy_text(a_none, none["diverged"].get<bool>()) + ", GN " +
          accuracy_text(final_accuracy(runs[m][2][big]), runs[m][2][big]["diverged"].get<bool>());
  }
  rep.claims.push_back({"BN tolerates the large LR where the unnormalized net diverges or stalls",
                        far == int(kModels.size()) ? Verdict::Pass : close > 0 ? Verdict::Fail : Verdict::Inconclusive,
                        ev});
  rep.notes =
      "GroupNorm is the batch-independent comparison: it normalizes each sample over groups of channels, so any "
      "gap between it and BN at the same LR is what the batch statistics add (the noise of a batch, the "
      "running averages at test time). One seed per setting: a difference of a point or so is within "
      "run-to-run noise.";
  return rep;
}

}  // namespace

Experiment cifar_bn_experiment() {
  Experiment e;
  e.name = "cifar-bn";
  e.summary = "BN converges faster and tolerates large LRs on CIFAR-10 resnet20 and vgg (vs no norm, GroupNorm)";
  e.description =
      "resnet20 and vgg on CIFAR-10 with bn, none (conv biases, same init) and gn, SGD momentum 0.9, weight decay "
      "5e-4, batch 128, crop + flip, 10 epochs of one-cycle at peak LR {0.02, 0.1, 0.4}, seed 0 (18 runs): test "
      "accuracy per epoch, training loss per step. --quick: LR {0.02, 0.4}, 40 steps each.";
  e.run = run_cifar_bn;
  return e;
}

}  // namespace norma::apps::experiments
