// depth: the degradation problem (He et al. 2016a, Fig. 6) at low cost. plain20, plain56,
// resnet20 and resnet56, BatchNorm everywhere, the cifar-bn recipe for 3 epochs: the deeper plain
// net should end with a higher training loss than the shallower one, the deeper residual net not.
#include <cmath>
#include <sstream>

#include "apps/experiments/cifar_runs.h"
#include "apps/experiments/classifier_loop.h"
#include "apps/experiments/train_run.h"

namespace norma::apps::experiments {
using json = nlohmann::json;

namespace {

const std::vector<std::string> kModels = {"plain20", "plain56", "resnet20", "resnet56"};
constexpr int64_t kEpochs = 3, kQuickSteps = 40;
constexpr double kLr = 0.1;

Report run_depth(const Context& ctx) {
  std::vector<json> runs;
  std::vector<double> loss;
  std::vector<std::vector<std::string>> rows;
  double seconds = 0;
  for (const std::string& model : kModels) {
    TrainOptions o = cifar_recipe(ctx, model, "bn", kLr, kEpochs, 0, kQuickSteps);
    runs.push_back(train_run(ctx, cifar_key(o), o));
    const json& r = runs.back();
    const bool div = r["diverged"].get<bool>();
    loss.push_back(div ? NAN : last_epoch_loss(r));
    if (!div) seconds += r["seconds"].get<double>();
    rows.push_back({model, div ? "1" : "0", strf("%.4f", loss.back()), accuracy_text(final_accuracy(r), div),
                    div ? "" : strf("%.0f", r["seconds"].get<double>())});
  }
  write_csv(ctx, "depth.csv", {"model", "diverged", "last_epoch_train_loss", "test_accuracy", "seconds"}, rows);

  Report rep;
  rep.title = "Plain nets degrade with depth, residual nets do not (He et al. 2016a, Fig. 6)";
  rep.setup =
      "- Models: `plain20`, `plain56` (the ResNets without their shortcuts), `resnet20`, `resnet56` (option A "
      "shortcuts), BatchNorm after every conv.\n"
      "- Recipe: cifar-bn's (crop + flip, batch 128, SGD momentum 0.9, weight decay 5e-4, one-cycle) at peak LR 0.1 "
      "for " +
      (ctx.quick ? strf("%lld steps only (--quick: a smoke test)", (long long)kQuickSteps)
                 : strf("%lld epochs", (long long)kEpochs)) +
      ", seed 0.\n"
      "- Training loss: the mean of the logged losses (each the mean of 10 steps) over the last epoch, in training "
      "mode on augmented images, as He et al.'s training curves.\n"
      "- Verdicts. Degradation: PASS when plain56's loss exceeds plain20's by at least 0.05, FAIL when it is not "
      "higher. Residual: PASS when resnet56's loss is at most resnet20's + 0.02, FAIL when it is 0.05 or more above.\n" +
      strf("- Training time: %.0f s for the four runs (2 cores).", seconds);

  std::ostringstream res;
  res << "| model | last-epoch training loss | test accuracy | seconds |\n| --- | --- | --- | --- |\n";
  Plot lp{"loss", "CIFAR-10, BN everywhere: training loss (mean of 10 steps)", "step", "training loss", false, true,
          {}};
  Plot ap{"accuracy", "CIFAR-10, BN everywhere: test accuracy per epoch", "epoch", "test accuracy", false, false, {}};
  for (size_t i = 0; i < kModels.size(); ++i) {
    res << "| " << rows[i][0] << " | " << rows[i][2] << " | " << rows[i][3] << " | " << rows[i][4] << " |\n";
    lp.series.push_back(loss_series(kModels[i], runs[i]));
    ap.series.push_back(accuracy_series(kModels[i], runs[i], kCifarStepsPerEpoch));
  }
  render_plot(ctx, lp), render_plot(ctx, ap);
  rep.figures = {lp.file, ap.file};
  rep.results = res.str();

  const double plain = loss[1] - loss[0], resid = loss[3] - loss[2];
  rep.claims.push_back({"The deeper plain net (56 layers) has a higher training loss than the shallower one (20)",
                        std::isnan(plain) ? Verdict::Inconclusive
                        : plain >= 0.05   ? Verdict::Pass
                        : plain <= 0      ? Verdict::Fail
                                          : Verdict::Inconclusive,
                        strf("plain56 %.4f - plain20 %.4f = %+.4f", loss[1], loss[0], plain)});
  rep.claims.push_back({"The deeper residual net does not degrade: resnet56's training loss is not above resnet20's",
                        std::isnan(resid) ? Verdict::Inconclusive
                        : resid <= 0.02   ? Verdict::Pass
                        : resid >= 0.05   ? Verdict::Fail
                                          : Verdict::Inconclusive,
                        strf("resnet56 %.4f - resnet20 %.4f = %+.4f", loss[3], loss[2], resid)});
  rep.notes =
      "He et al. train 64k iterations (164 epochs) with a step schedule; this is a few epochs of one-cycle, so the "
      "losses are far from converged and only their order is compared. One seed.";
  return rep;
}

}  // namespace

Experiment depth_experiment() {
  Experiment e;
  e.name = "depth";
  e.summary = "the degradation problem: plain56 trains worse than plain20, resnet56 not worse than resnet20 (He 2016a)";
  e.description =
      "plain20, plain56, resnet20, resnet56 with BN on CIFAR-10, cifar-bn's recipe at peak LR 0.1 for 3 epochs, seed "
      "0: the last epoch's training loss of each. --quick: 40 steps each.";
  e.run = run_depth;
  return e;
}

}  // namespace norma::apps::experiments
