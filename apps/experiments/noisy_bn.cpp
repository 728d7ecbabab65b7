// noisy-bn: does BatchNorm work by reducing internal covariate shift? (Santurkar et al. 2018,
// Sec. 2.1, Fig. 2). The vgg on CIFAR-10 (no augmentation) trained as (A) no norm, (B) BN,
// (C) BN followed by a random per-channel shift and scale redrawn every step (ChannelNoise), and
// (D) no norm with the same noise. If BN helped by keeping each layer's input distribution
// fixed, (C), whose distributions move at every step, should lose BN's advantage; the paper
// finds (B) and (C) train about equally well, both better than (A), while (D) fails.
#include <algorithm>
#include <cmath>
#include <optional>
#include <sstream>

#include "apps/experiments/channel_noise.h"
#include "apps/experiments/classifier_loop.h"
#include "core/norma.h"
#include "layers/resnet/models.h"

namespace norma::apps::experiments {
using json = nlohmann::json;

namespace {

struct Setting {
  std::string id, label, norm;  // id names runs: A, B, C1, C2, D1, D2
  float a = 0, b = 1;           // noise (b = 1, a = 0: none)
  bool noisy() const { return b > 1; }
};

std::vector<Setting> settings() {
  return {{"A", "A: no norm", "none"},
          {"B", "B: BN", "bn"},
          {"C1", "C: BN + noise (0.5, 1.5)", "bn", 0.5f, 1.5f},
          {"C2", "C: BN + noise (1, 2)", "bn", 1.0f, 2.0f},
          {"D1", "D: no norm + noise (0.5, 1.5)", "none", 0.5f, 1.5f},
          {"D2", "D: no norm + noise (1, 2)", "none", 1.0f, 2.0f}};
}

constexpr int64_t kEpochs = 2, kQuickSteps = 60;

// The best (over LRs) last-epoch training accuracy of a setting; 0 for one that always diverged.
double best_accuracy(const std::vector<json>& runs) {
  double best = 0;
  for (const json& r : runs)
    if (!r["diverged"].get<bool>()) best = std::max(best, r["train_accuracy"].get<double>());
  return best;
}

Report run_noisy_bn(const Context& ctx) {
  const std::vector<double> lrs = ctx.quick ? std::vector<double>{0.05} : std::vector<double>{0.01, 0.05, 0.1};
  const std::vector<Setting> all = settings();
  std::optional<ClassifierData> data;
  std::vector<std::vector<json>> runs(all.size());
  std::vector<std::vector<std::string>> rows;
  double seconds = 0;
  for (size_t s = 0; s < all.size(); ++s)
    for (double lr : lrs) {
      const Setting& st = all[s];
      int64_t max_steps = ctx.quick ? kQuickSteps : 0;
      if (ctx.max_steps > 0) max_steps = max_steps > 0 ? std::min(max_steps, ctx.max_steps) : ctx.max_steps;
      const std::string key = st.id + "-lr" + strf("%g", lr) + "-seed0" +
                              (max_steps > 0 ? "-steps" + std::to_string(max_steps) : "-e" + std::to_string(kEpochs));
      json r = cached_run(ctx, key, [&] {
        if (!data) data = load_cifar10(ctx, /*augment=*/false);
        manual_seed(init_seed(0));
        std::shared_ptr<nn::Module> model = nn::make_model("vgg", nn::NormConfig{st.norm});
        if (st.noisy()) add_noise_after_norms(*model, st.a, st.b);
        LoopOptions o;
        o.batch_size = 128, o.lr = lr, o.momentum = 0.9, o.epochs = kEpochs, o.max_steps = max_steps, o.seed = 0;
        o.label = key;
        LoopResult res = train_classifier(*model, *data, o, ctx.log);
        json curve = json::array();  // the mean loss of every 10 steps
        for (size_t i = 0; i + 10 <= res.losses.size(); i += 10) {
          double m = 0;
          for (size_t j = i; j < i + 10; ++j) m += res.losses[j] / 10.0;
          curve.push_back(m);
        }
        return json{{"diverged", res.diverged},
                    {"train_loss", res.train_loss},
                    {"train_accuracy", res.train_accuracy},
                    {"test_accuracy", res.diverged ? 0.0 : test_accuracy(*model, *data)},
                    {"steps", res.steps},
                    {"seconds", res.seconds},
                    {"loss_every10", curve}};
      });
      runs[s].push_back(r);
      const bool div = r["diverged"].get<bool>();
      seconds += r["seconds"].get<double>();
      rows.push_back({st.id, strf("%g", st.a), strf("%g", st.b), strf("%g", lr), div ? "1" : "0",
                      div ? "" : strf("%.4f", r["train_loss"].get<double>()),
                      div ? "" : strf("%.4f", r["train_accuracy"].get<double>()),
                      div ? "" : strf("%.4f", r["test_accuracy"].get<double>())});
      *ctx.log << "  " << key << ": "
               << (div ? std::string("diverged")
                       : strf("train accuracy %.4f, test accuracy %.4f (%.0f s)", r["train_accuracy"].get<double>(),
                              r["test_accuracy"].get<double>(), r["seconds"].get<double>()))
               << "\n";
    }
  write_csv(ctx, "noisy_bn.csv",
            {"setting", "noise_a", "noise_b", "lr", "diverged", "train_loss", "train_accuracy", "test_accuracy"}, rows);

  Report rep;
  rep.title = "Noisy BatchNorm: BN's benefit survives injected covariate shift (Santurkar et al. 2018, Fig. 2)";
  rep.setup =
      "- Model: `vgg` (conv 32-32-pool-64-64-pool-128-128-pool, global average pool, fc) with --norm none (conv "
      "biases) or bn; in the noisy settings a ChannelNoise layer after every norm (Identity for none), before the "
      "relu: per channel y = s x + m + e with s ~ U(1/b, b), m ~ U(-a, a) and e ~ N(mu, v) per element, mu ~ U(-a, a), "
      "v ~ U(1/b, b), all redrawn every step; off in eval mode.\n"
      "- Settings: A no norm; B BN; C BN + noise; D no norm + noise; noise (a, b) in {(0.5, 1.5), (1, 2)}.\n" +
      strf("- Training: CIFAR-10 without augmentation, batch 128, SGD momentum 0.9, constant LR in {%s}, %s, seed 0; "
           "a loss above 1e4 or NaN ends a run as diverged.\n",
           ctx.quick ? "0.05" : "0.01, 0.05, 0.1",
           ctx.quick ? strf("%lld steps (--quick: a smoke test)", (long long)kQuickSteps).c_str()
                     : strf("%lld epochs", (long long)kEpochs).c_str()) +
      "- Measure: the training accuracy over the last epoch's batches (noise on, as trained), the best over LRs; "
      "test accuracy (noise off) is reported alongside.\n"
      "- Verdicts. B ~ C: PASS when both C settings' best training accuracy is within 5 points of B's, FAIL when "
      "either is more than 15 below. Better than A: PASS when B and both C beat A by at least 2 points, FAIL when "
      "any does not beat A. D fails: PASS when both D settings stay at chance (at most 15% "
      "training accuracy; chance is 10%), FAIL when either reaches 20% and comes within 2 points of A (or above).\n" +
      strf("- Training time: %.0f s for all runs (2 cores).", seconds);

  std::ostringstream res;
  res << "Training accuracy (last epoch) / test accuracy:\n\n| setting |";
  for (double lr : lrs) res << " LR " << strf("%g", lr) << " |";
  res << "\n| --- |";
  for (size_t i = 0; i < lrs.size(); ++i) res << " --- |";
  res << "\n";
  Plot lp{"loss", strf("vgg on CIFAR-10 at LR %g: training loss (mean of 10 steps)", lrs[lrs.size() / 2]), "step",
          "training loss", false, true, {}};
  Plot ap{"accuracy-vs-lr", "vgg on CIFAR-10: last-epoch training accuracy vs LR", "learning rate",
          "training accuracy", true, false, {}};
  std::vector<double> best(all.size());
  for (size_t s = 0; s < all.size(); ++s) {
    res << "| " << all[s].label << " |";
    Series acc{all[s].label, {}, {}, {}, {}};
    for (size_t l = 0; l < lrs.size(); ++l) {
      const json& r = runs[s][l];
      if (r["diverged"].get<bool>()) {
        res << " diverged |";
        continue;
      }
      res << " " << strf("%.4f / %.4f", r["train_accuracy"].get<double>(), r["test_accuracy"].get<double>()) << " |";
      acc.x.push_back(lrs[l]), acc.y.push_back(r["train_accuracy"].get<double>());
    }
    res << "\n";
    const json& mid = runs[s][lrs.size() / 2];
    Series loss{all[s].label, {}, {}, {}, {}};
    for (size_t i = 0; i < mid["loss_every10"].size(); ++i)
      loss.x.push_back(double(10 * (i + 1))), loss.y.push_back(mid["loss_every10"][i].get<double>());
    lp.series.push_back(loss), ap.series.push_back(acc);
    best[s] = best_accuracy(runs[s]);
  }
  render_plot(ctx, lp);
  if (lrs.size() > 1) render_plot(ctx, ap), rep.figures.push_back(ap.file);
  rep.figures.push_back(lp.file);
  rep.results = res.str();

  const double A = best[0], B = best[1], C1 = best[2], C2 = best[3], D1 = best[4], D2 = best[5];
  const double gap = std::max(B - C1, B - C2);
  rep.claims.push_back({"BN with injected noise (C) trains about as well as plain BN (B)",
                        gap <= 0.05 ? Verdict::Pass : gap > 0.15 ? Verdict::Fail : Verdict::Inconclusive,
                        strf("best training accuracy: B %.4f, C (0.5, 1.5) %.4f, C (1, 2) %.4f", B, C1, C2)});
  const double margin = std::min({B - A, C1 - A, C2 - A});
  rep.claims.push_back({"B and C both train better than no norm (A)",
                        margin >= 0.02 ? Verdict::Pass : margin <= 0 ? Verdict::Fail : Verdict::Inconclusive,
                        strf("A %.4f; B, C (0.5, 1.5), C (1, 2) ahead of A by %+.4f, %+.4f, %+.4f", A, B - A, C1 - A,
                             C2 - A)});
  const double d_best = std::max(D1, D2);
  rep.claims.push_back({"The same noise without BN (D) fails to train",
                        d_best <= 0.15                          ? Verdict::Pass
                        : d_best >= std::max(0.2, A - 0.02)     ? Verdict::Fail
                                                                : Verdict::Inconclusive,
                        strf("best training accuracy: A %.4f, D (0.5, 1.5) %.4f, D (1, 2) %.4f", A, D1, D2)});
  rep.notes =
      "Santurkar et al. train a VGG for many epochs and plot training and test accuracy; this is a 2-epoch run of a "
      "small VGG, so only the ordering of the settings is compared. In (C) the BN layers after the first see noisy "
      "inputs in training, so their running statistics include the noise while eval mode switches it off: (C)'s test "
      "accuracy carries that train/eval mismatch, which is why the verdicts use the training accuracy. One seed.";
  return rep;
}

}  // namespace

Experiment noisy_bn_experiment() {
  Experiment e;
  e.name = "noisy-bn";
  e.summary = "BN with injected per-step covariate shift trains as well as BN; the noise without BN fails (Santurkar 2018)";
  e.description =
      "vgg on CIFAR-10 without augmentation, batch 128, SGD momentum 0.9, 2 epochs at LR {0.01, 0.05, 0.1}: (A) no "
      "norm, (B) BN, (C) BN + per-channel noise redrawn every step, (D) no norm + the noise, noise (a, b) in {(0.5, "
      "1.5), (1, 2)}; seed 0. --quick: LR 0.05, 60 steps.";
  e.run = run_noisy_bn;
  return e;
}

}  // namespace norma::apps::experiments
