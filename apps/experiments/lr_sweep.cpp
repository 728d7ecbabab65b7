// lr-sweep: "Batch Normalization enables higher learning rates" (Ioffe & Szegedy 2015, Sec. 3.3).
// mlp and lenet on MNIST, with and without BN, trained by `norma train`'s loop at each LR of a
// log grid; per model and norm the largest LR that still trains to within one point of that
// setting's best accuracy, and the ratio of those largest LRs with and without BN.
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

// The runs of one (model, norm) at one LR: their accuracies, and how many diverged.
struct Cell {
  std::vector<double> acc;  // of the runs that did not diverge
  int diverged = 0;
  double mean() const {
    double s = 0;
    for (double a : acc) s += a;
    return acc.empty() ? NAN : s / double(acc.size());
  }
  std::string str() const {
    if (acc.empty()) return "diverged";
    std::string s = fmt("%.4f", mean());
    if (diverged) s += " (" + std::to_string(diverged) + " diverged)";
    return s;
  }
};

// The largest LR whose runs all trained (none diverged) to a mean within 0.01 of the best mean.
double largest_good_lr(const std::vector<double>& lrs, const std::vector<Cell>& cells) {
  double best = -1;
  for (const Cell& c : cells)
    if (!c.acc.empty() && c.mean() > best) best = c.mean();
  double largest = NAN;
  for (size_t i = 0; i < lrs.size(); ++i)
    if (cells[i].diverged == 0 && !cells[i].acc.empty() && cells[i].mean() >= best - 0.01) largest = lrs[i];
  return largest;
}

Report run_lr_sweep(const Context& ctx) {
  const int seeds = ctx.seeds_or(ctx.quick ? 1 : 2);
  const std::vector<double> lrs =
      ctx.quick ? std::vector<double>{0.01, 0.1, 1, 3} : std::vector<double>{0.003, 0.01, 0.03, 0.1, 0.3, 1, 3};
  const std::vector<std::string> models = {"mlp", "lenet"}, norms = {"bn", "none"};
  int64_t steps = ctx.quick ? 300 : 0;  // 0: two epochs
  if (ctx.max_steps > 0) steps = steps > 0 ? std::min(steps, ctx.max_steps) : ctx.max_steps;
  const std::string length = steps > 0 ? "steps" + std::to_string(steps) : "e2";

  // cells[model][norm][lr]
  std::vector<std::vector<std::vector<Cell>>> cells(models.size(),
                                                   std::vector<std::vector<Cell>>(norms.size(), std::vector<Cell>(lrs.size())));
  std::vector<std::vector<std::string>> rows;
  for (size_t m = 0; m < models.size(); ++m)
    for (size_t n = 0; n < norms.size(); ++n)
      for (size_t l = 0; l < lrs.size(); ++l)
        for (int s = 0; s < seeds; ++s) {
          TrainOptions o;
          o.data = "mnist", o.model = models[m], o.norm = norms[n], o.lr = lrs[l], o.seed = uint64_t(s);
          o.momentum = models[m] == "lenet" ? 0.9 : 0.0;
          o.batch_size = 128, o.epochs = 2, o.steps = steps, o.checkpoint_every = 100;
          const std::string key =
              models[m] + "-" + norms[n] + "-lr" + fmt("%g", lrs[l]) + "-seed" + std::to_string(s) + "-" + length;
          json r = train_run(ctx, key, o);
          const bool diverged = r["diverged"].get<bool>();
          if (diverged) ++cells[m][n][l].diverged;
          else cells[m][n][l].acc.push_back(r["test_accuracy"].get<double>());
          rows.push_back({models[m], norms[n], fmt("%g", lrs[l]), std::to_string(s), diverged ? "1" : "0",
                          diverged ? "" : fmt("%.6f", r["test_accuracy"].get<double>())});
        }
  write_csv(ctx, "lr_sweep.csv", {"model", "norm", "lr", "seed", "diverged", "test_accuracy"}, rows);

  Report r;
  r.title = "BatchNorm allows much higher learning rates (Ioffe & Szegedy 2015, Sec. 3.3)";
  std::ostringstream setup;
  setup << "- Models: `mlp` (784-100-100-100-10, sigmoid) and `lenet` (2 x conv 3x3 + norm + relu + maxpool, fc 128 + "
           "norm + relu, no dropout), each with BatchNorm (`--norm bn`) and without (`--norm none`, the layers before a norm then "
           "have a bias), PyTorch's default initialisation.\n"
        << "- Training: `norma train`'s loop on MNIST (normalized by its mean and std), batch 128, constant LR, SGD "
           "with momentum 0.9 for lenet and plain SGD for mlp, no weight decay, "
        << (steps > 0 ? std::to_string(steps) + " steps" : std::string("2 epochs (938 steps)")) << "; seeds 0-"
        << seeds - 1 << ".\n"
        << "- LR grid: ";
  for (size_t l = 0; l < lrs.size(); ++l) setup << (l ? ", " : "") << fmt("%g", lrs[l]);
  setup << ".\n- A run has diverged when its loss becomes NaN, Inf or above 1e4 (the training loop's divergence "
           "stop); it is marked so and has no accuracy.\n"
        << "- Largest good LR: the largest LR at which no seed diverged and the mean final test accuracy is within "
           "1 point (0.01) of the best mean of that model and norm over the grid.\n"
        << "- Verdict per model: PASS when the largest good LR with BN is at least 10x the one without (two grid "
           "steps), FAIL when it is not larger, INCONCLUSIVE in between.";
  r.setup = setup.str();

  std::ostringstream res;
  for (size_t m = 0; m < models.size(); ++m) {
    Plot p{"accuracy-vs-lr-" + models[m], models[m] + ": final test accuracy vs learning rate (mean of seeds)", "learning rate",
           "test accuracy", true, false, {}};
    res << "### " << models[m] << " (final test accuracy, mean over seeds)\n\n| LR | BN | no BN |\n| --- | --- | --- |\n";
    for (size_t l = 0; l < lrs.size(); ++l)
      res << "| " << fmt("%g", lrs[l]) << " | " << cells[m][0][l].str() << " | " << cells[m][1][l].str() << " |\n";
    double largest[2];
    for (size_t n = 0; n < norms.size(); ++n) {
      Series s{norms[n] == "bn" ? "BN" : "no BN", {}, {}, {}, {}};
      for (size_t l = 0; l < lrs.size(); ++l) s.x.push_back(lrs[l]), s.y.push_back(cells[m][n][l].mean());
      p.series.push_back(s);
      largest[n] = largest_good_lr(lrs, cells[m][n]);
    }
    render_plot(ctx, p);
    r.figures.push_back(p.file);
    const double ratio = largest[0] / largest[1];
    res << "\nLargest good LR: BN " << fmt("%g", largest[0]) << ", no BN " << fmt("%g", largest[1]) << " (ratio "
        << fmt("%g", ratio) << ")\n\n";
    const Verdict v = !std::isfinite(ratio) ? Verdict::Inconclusive
                      : ratio >= 10           ? Verdict::Pass
                      : ratio <= 1            ? Verdict::Fail
                                              : Verdict::Inconclusive;
    r.claims.push_back({models[m] + ": BatchNorm allows much higher learning rates (largest good LR with BN >= 10x "
                                    "without)",
                        v,
                        "largest LR within 1 point of the best: BN " + fmt("%g", largest[0]) + ", no BN " +
                            fmt("%g", largest[1]) + ", ratio " + fmt("%g", ratio)});
  }
  r.results = res.str();
  r.notes =
      "The grid's steps are about 3.16x apart, so the ratio of largest good LRs is a power of sqrt(10): 10 means two "
      "grid steps. BatchNorm bounds the activations, so a too-high LR with BN rarely diverges; it shows as a lower "
      "accuracy instead, which the 1-point rule catches.";
  return r;
}

}  // namespace

Experiment lr_sweep_experiment() {
  Experiment e;
  e.name = "lr-sweep";
  e.summary = "BatchNorm allows much higher learning rates: accuracy vs LR for mlp and lenet, with and without BN";
  e.description =
      "mlp (plain SGD) and lenet (SGD momentum 0.9) on MNIST, with and without BatchNorm, batch 128, 2 epochs, "
      "constant LR in {0.003, 0.01, 0.03, 0.1, 0.3, 1, 3}, 2 seeds; diverged runs marked; the largest LR within 1 point "
      "of the best, and its ratio with/without BN. --quick: LRs {0.01, 0.1, 1, 3}, 300 steps, 1 seed.";
  e.run = run_lr_sweep;
  return e;
}

}  // namespace norma::apps::experiments
