// landscape: BatchNorm smooths the optimization landscape (Santurkar et al. 2018, Sec. 3.1,
// Fig. 4). The vgg on CIFAR-10 without (A) and with (B) BN, trained at the same LR; every 50
// steps the training pauses and probes the loss along the gradient on one fixed mini-batch
// (landscape_probe.h: the loss and gradient at theta - eta g for eta = LR x {0.25 ... 8}): the
// loss variation, the gradient predictiveness and the effective beta-smoothness should all be
// smaller with BN.
#include <algorithm>
#include <cmath>
#include <optional>
#include <sstream>

#include "apps/experiments/classifier_loop.h"
#include "apps/experiments/landscape_probe.h"
#include "core/norma.h"
#include "layers/resnet/models.h"

namespace norma::apps::experiments {
using json = nlohmann::json;

namespace {

constexpr double kLr = 0.05;
constexpr int64_t kEpochs = 2, kQuickSteps = 150, kProbeEvery = 50, kProbeBatch = 128;
const std::vector<double> kEtaFactors = {0.25, 0.5, 1, 2, 4, 8};

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

Report run_landscape(const Context& ctx) {
  const std::vector<std::string> norms = {"none", "bn"};
  const std::vector<std::string> labels = {"A: no norm", "B: BN"};
  int64_t max_steps = ctx.quick ? kQuickSteps : 0;
  if (ctx.max_steps > 0) max_steps = max_steps > 0 ? std::min(max_steps, ctx.max_steps) : ctx.max_steps;
  std::optional<ClassifierData> data;
  std::vector<json> runs;
  for (const std::string& norm : norms) {
    const std::string key = norm + "-lr" + strf("%g", kLr) + "-seed0" +
                            (max_steps > 0 ? "-steps" + std::to_string(max_steps) : "-e" + std::to_string(kEpochs));
    runs.push_back(cached_run(ctx, key, [&] {
      if (!data) data = load_cifar10(ctx, /*augment=*/false);
      std::vector<int64_t> first;
      for (int64_t i = 0; i < kProbeBatch; ++i) first.push_back(i);
      const data::Batch batch = data::make_batch(*data->train, first, data->train_transforms);
      manual_seed(init_seed(0));
      std::shared_ptr<nn::Module> model = nn::make_model("vgg", nn::NormConfig{norm});
      LoopOptions o;
      o.batch_size = 128, o.lr = kLr, o.momentum = 0.9, o.epochs = kEpochs, o.max_steps = max_steps, o.seed = 0;
      o.label = key;
      json probes = json::array();
      o.after_step = [&](int64_t step) {
        if (step % kProbeEvery) return;
        const LandscapeProbe p = probe_landscape(*model, batch, kLr, kEtaFactors, step);
        probes.push_back({{"step", p.step}, {"loss", p.loss}, {"loss_min", p.loss_min}, {"loss_max", p.loss_max},
                          {"gdiff_min", p.gdiff_min}, {"gdiff_max", p.gdiff_max}, {"beta", p.beta}});
      };
      LoopResult r = train_classifier(*model, *data, o, ctx.log);
      return json{{"diverged", r.diverged}, {"steps", r.steps}, {"seconds", r.seconds},
                  {"train_loss", r.train_loss}, {"probes", probes}};
    }));
  }

  Report rep;
  rep.title = "BatchNorm smooths the loss landscape (Santurkar et al. 2018, Fig. 4)";
  rep.setup =
      strf("- Model: `vgg` with --norm none (A; conv biases) or bn (B); CIFAR-10 without augmentation, batch 128, SGD "
           "momentum 0.9, constant LR %g for %s, seed 0.\n",
           kLr,
           max_steps > 0 ? strf("%lld steps%s", (long long)max_steps, ctx.quick ? " (--quick: a smoke test)" : "").c_str()
                         : strf("%lld epochs", (long long)kEpochs).c_str()) +
      strf("- Probe every %lld steps (and before the first) on the first %lld training images, BN in training mode: "
           "g = the gradient; for eta = LR x {0.25, 0.5, 1, 2, 4, 8} the loss and gradient at theta - eta g. The "
           "weights and running statistics are restored after each probe; probe time is not training time.\n",
           (long long)kProbeEvery, (long long)kProbeBatch) +
      "- Per probe: loss variation = max - min of the losses (eta = 0 included); gradient predictiveness = the "
      "range and the max of ||g_eta - g||; effective beta-smoothness = max ||g_eta - g|| / ||eta g||.\n"
      "- Verdicts: for each quantity, the median over the probes after step 0 without BN divided by the median with "
      "BN: PASS above 1.25, FAIL below 1, INCONCLUSIVE in between.";

  Plot lp{"loss-variation", "vgg on CIFAR-10: loss along the gradient (band: min-max over eta)", "step", "loss",
          false, true, {}};
  Plot gp{"gradient-predictiveness", "vgg on CIFAR-10: ||g_eta - g|| (band: min-max over eta)", "step",
          "gradient change (L2)", false, true, {}};
  Plot bp{"beta-smoothness", "vgg on CIFAR-10: effective beta-smoothness", "step", "max ||g_eta - g|| / ||eta g||",
          false, true, {}};
  std::vector<double> var[2], pred[2], beta[2];
  std::ostringstream res;
  res << "| | steps | final train loss (last epoch) | median loss variation | median \\|\\|g_eta - g\\|\\| range | median "
         "max \\|\\|g_eta - g\\|\\| | median beta |\n| --- | --- | --- | --- | --- | --- | --- |\n";
  std::vector<double> gmax[2];
  for (size_t i = 0; i < runs.size(); ++i) {
    const json& r = runs[i];
    Series l{labels[i], {}, {}, {}, {}}, g{labels[i], {}, {}, {}, {}}, b{labels[i], {}, {}, {}, {}};
    for (const json& p : r["probes"]) {
      const double step = p["step"].get<double>();
      l.x.push_back(step), l.y.push_back(p["loss"]), l.lo.push_back(p["loss_min"]), l.hi.push_back(p["loss_max"]);
      g.x.push_back(step), g.y.push_back(p["gdiff_max"]), g.lo.push_back(p["gdiff_min"]), g.hi.push_back(p["gdiff_max"]);
      b.x.push_back(step), b.y.push_back(p["beta"]);
      if (step > 0) {
        var[i].push_back(p["loss_max"].get<double>() - p["loss_min"].get<double>());
        pred[i].push_back(p["gdiff_max"].get<double>() - p["gdiff_min"].get<double>());
        gmax[i].push_back(p["gdiff_max"].get<double>());
        beta[i].push_back(p["beta"].get<double>());
      }
    }
    lp.series.push_back(l), gp.series.push_back(g), bp.series.push_back(b);
    res << "| " << labels[i] << " | " << r["steps"].get<int64_t>() << " | "
        << (r["diverged"].get<bool>() ? std::string("diverged") : strf("%.4f", r["train_loss"].get<double>())) << " | "
        << strf("%.4g | %.4g | %.4g | %.4g", median(var[i]), median(pred[i]), median(gmax[i]), median(beta[i]))
        << " |\n";
  }
  render_plot(ctx, lp), render_plot(ctx, gp), render_plot(ctx, bp);
  rep.figures = {lp.file, gp.file, bp.file};
  rep.results = res.str();
  auto claim = [&](const std::string& what, const std::vector<double>* q) {
    const double ratio = median(q[0]) / median(q[1]);
    rep.claims.push_back({what + " is smaller with BN",
                          !std::isfinite(ratio) ? Verdict::Inconclusive
                          : ratio > 1.25        ? Verdict::Pass
                          : ratio < 1           ? Verdict::Fail
                                                : Verdict::Inconclusive,
                          strf("median without / with BN = %.4g / %.4g = %.3gx", median(q[0]), median(q[1]), ratio)});
  };
  claim("The loss variation along the gradient", var);
  claim("The gradient predictiveness range max - min ||g_eta - g||", pred);
  claim("The effective beta-smoothness", beta);
  rep.notes =
      "The two nets have different gradients, so the same eta moves them different distances: the quantities "
      "follow Santurkar et al.'s definitions (steps of eta g along each net's own gradient), not a common step "
      "length. Without BN the gradient is typically smaller early on, which makes its steps shorter; the ratio "
      "in the beta column divides that out. One seed.";
  return rep;
}

}  // namespace

Experiment landscape_experiment() {
  Experiment e;
  e.name = "landscape";
  e.summary = "BN makes the loss and its gradient change less along the gradient (Santurkar 2018, Fig. 4)";
  e.description =
      "vgg on CIFAR-10 without augmentation, with and without BN, SGD momentum 0.9 at LR 0.05 for 2 epochs; every "
      "50 steps, on a fixed batch of 128: loss and gradient at theta - eta g for eta = LR x {0.25 ... 8}: loss "
      "variation, gradient predictiveness, effective beta-smoothness. --quick: 150 steps.";
  e.run = run_landscape;
  return e;
}

}  // namespace norma::apps::experiments
