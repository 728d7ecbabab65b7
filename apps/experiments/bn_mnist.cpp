// bn-mnist: Ioffe & Szegedy (2015), Sec. 4.1 and Figure 1. The MNIST MLP 784-100-100-100-10
// with sigmoids, weights N(0, 0.01^2), plain SGD on the mean cross-entropy, batch 60, constant
// LR, with and without BatchNorm before each sigmoid. Measured: test accuracy over training
// (Fig. 1a) and the 15th/50th/85th percentiles over the test set of one sigmoid input of the
// last hidden layer (Fig. 1b without BN, 1c with). The control: no BN with N(0, 1/fan_in)
// weights, so that "BN trains faster" is not just "0.01 is a bad init".
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "apps/datasets.h"
#include "apps/experiments/experiment.h"
#include "apps/training.h"
#include "core/norma.h"
#include "data/io.h"
#include "data/loader.h"
#include "layers/init.h"
#include "layers/resnet/models.h"
#include "optim/sgd.h"

namespace norma::apps::experiments {
using json = nlohmann::json;

namespace {

struct Variant {
  std::string key, label;
  bool bn;
  bool fan_in_init;  // N(0, 1/fan_in) instead of N(0, 0.01^2)
};
const std::vector<Variant> kVariants = {
    {"bn", "BN", true, false},
    {"nobn", "no BN", false, false},
    {"nobn-fanin", "no BN, N(0,1/fan_in) init", false, true},
};
constexpr int64_t kBatch = 60, kUnit = 0;  // kUnit: the sigmoid input whose percentiles are tracked
const std::vector<int64_t> kReportSteps = {500, 1000, 2000, 5000, 10000, 20000, 50000};

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// numpy's default percentile: linear interpolation between the order statistics.
double percentile(std::vector<float> v, double p) {
  std::sort(v.begin(), v.end());
  const double pos = p / 100.0 * double(v.size() - 1);
  const size_t i = size_t(pos);
  const double frac = pos - double(i);
  return i + 1 < v.size() ? double(v[i]) * (1 - frac) + double(v[i + 1]) * frac : double(v[i]);
}

// The input of the last hidden layer's sigmoid, unit kUnit, for every test image, in eval mode.
std::vector<float> sigmoid_inputs(nn::Module& model, const data::Dataset& test) {
  model.eval();
  NoGradGuard no_grad;
  std::vector<float> out;
  std::vector<int64_t> idx;
  for (int64_t start = 0; start < test.size(); start += 1000) {
    idx.clear();
    for (int64_t i = start; i < std::min(test.size(), start + 1000); ++i) idx.push_back(i);
    Tensor h = data::make_batch(test, idx).images;
    h = h.reshape({h.size(0), 784});
    auto layer = [&](const std::string& fc, const std::string& bn, const Tensor& x) {
      return (*model.child(bn))((*model.child(fc))(x));
    };
    h = sigmoid(layer("fc1", "bn1", h));
    h = sigmoid(layer("fc2", "bn2", h));
    std::vector<float> z = layer("fc3", "bn3", h).slice(1, kUnit, kUnit + 1).contiguous().to_vector();
    out.insert(out.end(), z.begin(), z.end());
  }
  model.train();
  return out;
}

// One training run: accuracy at step 500 and every 1,000, percentiles every 1,000 (and both at
// the last step).
json run_one(const Context& ctx, const LoadedData& d, const Variant& v, double lr, uint64_t seed, int64_t steps) {
  manual_seed(data::derive_seed(seed, 0x696e6974ULL << 32));
  nn::MLP model(nn::NormConfig{v.bn ? "bn" : "none"});
  for (const char* fc : {"fc1", "fc2", "fc3", "fc4"}) {
    nn::Module& m = *model.child(fc);
    Tensor& w = m.param("weight");
    nn::init::normal_(w, 0.f, v.fan_in_init ? 1.f / std::sqrt(float(nn::init::fan_in(w))) : 0.01f);
    if (m.has_param("bias")) nn::init::zeros_(m.param("bias"));
  }
  optim::SGD opt(model.parameters(), lr);
  data::LoaderOptions lo;
  lo.batch_size = kBatch, lo.seed = seed;  // no transforms: pixels / 255, in [0, 1]
  data::DataLoader loader(d.train, lo);

  json acc = json::array(), pct = json::array();
  const auto start = std::chrono::steady_clock::now();
  int64_t step = 0;
  bool diverged = false;
  for (int64_t epoch = 0; step < steps && !diverged; ++epoch) {
    loader.start_epoch(epoch);
    for (data::Batch b; step < steps && loader.next(b);) {
      Tensor loss = cross_entropy(model(b.images), b.labels);  // mean over the batch
      if (!std::isfinite(loss.item())) {
        diverged = true;
        break;
      }
      loss.backward();
      opt.step();
      opt.zero_grad();
      ++step;
      if (step == 500 || step % 1000 == 0 || step == steps) {
        EvalResult r = evaluate(model, d.test, {}, 1000);
        acc.push_back({step, r.accuracy, r.loss});
      }
      if (step % 1000 == 0 || step == steps) {
        std::vector<float> z = sigmoid_inputs(model, *d.test);
        pct.push_back({step, percentile(z, 15), percentile(z, 50), percentile(z, 85)});
      }
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  *ctx.log << "  " << v.label << ", lr " << lr << ", seed " << seed << ": "
           << (diverged ? "diverged at step " + std::to_string(step + 1)
                        : "test accuracy " + fmt("%.4f", acc.back()[1].get<double>()))
           << " after " << step << " steps (" << fmt("%.0f", seconds) << " s)\n";
  ctx.log->flush();
  return {{"variant", v.key}, {"lr", lr}, {"seed", seed}, {"steps", steps}, {"diverged", diverged},
          {"accuracy", acc}, {"percentiles", pct}, {"seconds", seconds}};
}

// The accuracy of a run at `step` (NaN when not measured there).
double accuracy_at(const json& run, int64_t step) {
  for (const auto& a : run["accuracy"])
    if (a[0].get<int64_t>() == step) return a[1].get<double>();
  return NAN;
}

// +1 when every seed of a beats every seed of b, -1 the reverse, 0 when they overlap.
int order(const std::vector<double>& a, const std::vector<double>& b) {
  const auto [a_lo, a_hi] = std::minmax_element(a.begin(), a.end());
  const auto [b_lo, b_hi] = std::minmax_element(b.begin(), b.end());
  return *a_lo > *b_hi ? 1 : *a_hi < *b_lo ? -1 : 0;
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / double(v.size());
}

// "0.912 (0.905-0.918)": the mean over seeds and their range.
std::string summary(const std::vector<double>& v) {
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  return v.size() == 1 ? fmt("%.4f", v[0]) : fmt("%.4f", mean(v)) + " (" + fmt("%.4f", *lo) + "-" + fmt("%.4f", *hi) + ")";
}

// Drift of the distribution over training: the range of the median and of the 15-85 spread over
// every recorded step, each relative to the spread at the last step.
std::pair<double, double> drift(const json& run) {
  const json& p = run["percentiles"];
  double med_lo = INFINITY, med_hi = -INFINITY, spr_lo = INFINITY, spr_hi = -INFINITY;
  for (const auto& row : p) {
    const double med = row[2].get<double>(), spread = row[3].get<double>() - row[1].get<double>();
    med_lo = std::min(med_lo, med), med_hi = std::max(med_hi, med);
    spr_lo = std::min(spr_lo, spread), spr_hi = std::max(spr_hi, spread);
  }
  const double last = p.back()[3].get<double>() - p.back()[1].get<double>();
  return {(med_hi - med_lo) / last, (spr_hi - spr_lo) / last};
}

Verdict verdict_of(const std::vector<int>& orders) {
  if (std::find(orders.begin(), orders.end(), -1) != orders.end()) return Verdict::Fail;
  if (std::find(orders.begin(), orders.end(), 0) != orders.end()) return Verdict::Inconclusive;
  return Verdict::Pass;
}

// The claims at one LR: BN (runs[0]) against no BN (runs[1]) and the control (runs[2]).
void add_claims(Report& r, double lr, const std::vector<std::vector<json>>& runs, int64_t steps) {
  auto accs = [&](size_t v, int64_t step) {
    std::vector<double> a;
    for (const json& run : runs[v]) a.push_back(accuracy_at(run, step));
    return a;
  };
  const std::string at = "LR " + fmt("%g", lr) + ": ";
  for (size_t other : {size_t(1), size_t(2)}) {
    const std::string who = other == 1 ? "without BN" : "without BN but with N(0,1/fan_in) init (the control)";
    std::vector<int> early;
    std::string ev;
    for (int64_t s : {500, 1000, 2000, 5000}) {
      if (s > steps) continue;
      early.push_back(order(accs(0, s), accs(other, s)));
      ev += (ev.empty() ? "" : "; ") + std::string("step ") + std::to_string(s) + ": " + summary(accs(0, s)) + " vs " +
            summary(accs(other, s));
    }
    r.claims.push_back({at + "with BN the net trains faster than " + who + " (test accuracy at steps 500-5k)",
                        verdict_of(early), ev});
    r.claims.push_back({at + "with BN the net reaches a higher test accuracy than " + who + " (at step " +
                            std::to_string(steps) + ")",
                        verdict_of({order(accs(0, steps), accs(other, steps))}),
                        summary(accs(0, steps)) + " vs " + summary(accs(other, steps))});
  }
  // Stability of the sigmoid input: BN's drift against no BN's (0.01 init), means over seeds.
  double d[2][2] = {{0, 0}, {0, 0}};
  for (size_t v = 0; v < 2; ++v)
    for (const json& run : runs[v]) {
      auto [med, spr] = drift(run);
      d[v][0] += med / double(runs[v].size()), d[v][1] += spr / double(runs[v].size());
    }
  const double mean_ratio = d[1][0] / d[0][0], spread_ratio = d[1][1] / d[0][1];
  const bool enough = runs[0][0]["percentiles"].size() >= 2;
  const Verdict v = !enough ? Verdict::Inconclusive
                    : (mean_ratio < 1 || spread_ratio < 1) ? Verdict::Fail
                    : (mean_ratio >= 2 && spread_ratio >= 2) ? Verdict::Pass
                                                             : Verdict::Inconclusive;
  r.claims.push_back(
      {at + "with BN the distribution of a sigmoid input is stable, without BN it drifts in mean and spread "
            "(PASS: no BN's drift of both >= 2x BN's)",
       v,
       !enough ? "fewer than 2 measurements of the percentiles"
               : "drift of the median / of the 15-85 spread, relative to the final spread: BN " + fmt("%.2f", d[0][0]) +
                     " / " + fmt("%.2f", d[0][1]) + ", no BN " + fmt("%.2f", d[1][0]) + " / " + fmt("%.2f", d[1][1]) +
                     " (ratios " + fmt("%.1f", mean_ratio) + ", " + fmt("%.1f", spread_ratio) + ")"});
}

Report run_bn_mnist(const Context& ctx) {
  const int seeds = ctx.seeds_or(ctx.quick ? 1 : 3);
  int64_t steps = ctx.quick ? 5000 : 50000;
  if (ctx.max_steps > 0) steps = std::min(steps, ctx.max_steps);
  const std::vector<double> lrs = {0.1, 0.5};
  LoadedData d = load_data(parse_data_spec("mnist"), data::resolve_data_dir(ctx.data_dir), {1, 28, 28}, true,
                           *ctx.log);

  // runs[lr][variant][seed]
  std::vector<std::vector<std::vector<json>>> runs(lrs.size(), std::vector<std::vector<json>>(kVariants.size()));
  std::vector<std::vector<std::string>> acc_rows, pct_rows;
  for (size_t l = 0; l < lrs.size(); ++l)
    for (size_t v = 0; v < kVariants.size(); ++v)
      for (int s = 0; s < seeds; ++s) {
        const std::string key = kVariants[v].key + "-lr" + fmt("%g", lrs[l]) + "-seed" + std::to_string(s) +
                                "-steps" + std::to_string(steps);
        json run = cached_run(ctx, key, [&] { return run_one(ctx, d, kVariants[v], lrs[l], uint64_t(s), steps); });
        for (const auto& a : run["accuracy"])
          acc_rows.push_back({fmt("%g", lrs[l]), kVariants[v].key, std::to_string(s), a[0].dump(), a[1].dump(),
                              a[2].dump()});
        for (const auto& p : run["percentiles"])
          pct_rows.push_back({fmt("%g", lrs[l]), kVariants[v].key, std::to_string(s), p[0].dump(), p[1].dump(),
                              p[2].dump(), p[3].dump()});
        runs[l][v].push_back(std::move(run));
      }
  write_csv(ctx, "accuracy.csv", {"lr", "variant", "seed", "step", "test_accuracy", "test_loss"}, acc_rows);
  write_csv(ctx, "percentiles.csv", {"lr", "variant", "seed", "step", "p15", "p50", "p85"}, pct_rows);

  Report r;
  r.title = "BatchNorm on MNIST (Ioffe & Szegedy 2015, Sec. 4.1, Fig. 1)";
  std::ostringstream setup;
  setup << "- Model: `mlp`, 784-100-100-100-10 with sigmoids; with BN a BatchNorm1d (batch statistics in training, "
           "running statistics with momentum 0.1 in eval, gamma 1 and beta 0 at the start) before each sigmoid and no "
           "bias on the Linear before it.\n"
        << "- Init: every Linear weight N(0, 0.01^2), every bias 0. Control: no BN, weights N(0, 1/fan_in).\n"
        << "- Data: MNIST, 60,000 training and the full 10,000 test images, pixels / 255 in [0, 1] (no mean/std "
           "normalization, no augmentation); each epoch a seeded shuffle.\n"
        << "- Optimizer: plain SGD (no momentum, no weight decay), constant LR " << fmt("%g", lrs[0]) << " and "
        << fmt("%g", lrs[1]) << ", on the mean cross-entropy of batches of " << kBatch << ", " << steps
        << " steps; seeds 0-" << seeds - 1 << ".\n"
        << "- Measured: test accuracy (eval mode) at step 500 and every 1,000; the 15th/50th/85th percentiles over the "
           "test images of the input of sigmoid unit " << kUnit
        << " of the last hidden layer (fc3 followed by BN when there is one, eval mode) every 1,000 steps.\n"
        << "- Verdicts: a comparison PASSes when every seed of BN beats every seed of the other, FAILs when every "
           "seed of the other beats every seed of BN, and is INCONCLUSIVE when they overlap.";
  r.setup = setup.str();

  std::ostringstream res;
  for (size_t l = 0; l < lrs.size(); ++l) {
    const std::string lr = fmt("%g", lrs[l]);
    Plot a{"fig1a-lr" + lr, "Fig. 1(a): test accuracy, LR " + lr + (seeds > 1 ? " (mean, band: min-max of seeds)" : ""),
           "steps", "test accuracy", false, false, {}};
    for (size_t v = 0; v < kVariants.size(); ++v) {
      Series s{kVariants[v].label, {}, {}, {}, {}};
      for (const auto& point : runs[l][v][0]["accuracy"]) {
        std::vector<double> at;
        for (const json& run : runs[l][v]) at.push_back(accuracy_at(run, point[0].get<int64_t>()));
        s.x.push_back(point[0].get<double>()), s.y.push_back(mean(at));
        if (seeds > 1)
          s.lo.push_back(*std::min_element(at.begin(), at.end())), s.hi.push_back(*std::max_element(at.begin(), at.end()));
      }
      a.series.push_back(s);
    }
    render_plot(ctx, a);
    r.figures.push_back(a.file);
    for (size_t v : {size_t(1), size_t(0)}) {  // 1(b) without BN, 1(c) with
      Plot p{std::string(v == 1 ? "fig1b" : "fig1c") + "-lr" + lr,
             std::string(v == 1 ? "Fig. 1(b): without BN" : "Fig. 1(c): with BN") + ", LR " + lr +
                 ", seed 0: sigmoid input, 15/50/85th percentiles",
             "steps", "input of the sigmoid", false, false, {}};
      Series s{"median (band: 15th-85th percentile)", {}, {}, {}, {}};
      for (const auto& row : runs[l][v][0]["percentiles"]) {
        s.x.push_back(row[0].get<double>()), s.lo.push_back(row[1].get<double>());
        s.y.push_back(row[2].get<double>()), s.hi.push_back(row[3].get<double>());
      }
      p.series.push_back(s);
      render_plot(ctx, p);
      r.figures.push_back(p.file);
    }

    res << "### Test accuracy, LR " << lr << (seeds > 1 ? " (mean over seeds, range in parentheses)" : "")
        << "\n\n| step | " << kVariants[0].label << " | " << kVariants[1].label << " | " << kVariants[2].label
        << " |\n| --- | --- | --- | --- |\n";
    std::vector<int64_t> at;
    for (int64_t s : kReportSteps)
      if (s < steps) at.push_back(s);
    at.push_back(steps);
    for (int64_t s : at) {
      res << "| " << s;
      for (size_t v = 0; v < kVariants.size(); ++v) {
        std::vector<double> a;
        for (const json& run : runs[l][v]) a.push_back(accuracy_at(run, s));
        res << " | " << summary(a);
      }
      res << " |\n";
    }
    res << "\n### Sigmoid input of unit " << kUnit << ", layer 3, LR " << lr
        << " (seed 0: percentiles at the first and the last measurement; drift: mean over seeds)\n\n"
        << "| variant | first p15 / p50 / p85 | last p15 / p50 / p85 | median drift | spread drift |\n"
        << "| --- | --- | --- | --- | --- |\n";
    for (size_t v = 0; v < kVariants.size(); ++v) {
      const json& p = runs[l][v][0]["percentiles"];
      auto three = [&](const json& row) {
        return fmt("%.3f", row[1].get<double>()) + " / " + fmt("%.3f", row[2].get<double>()) + " / " +
               fmt("%.3f", row[3].get<double>()) + " (step " + row[0].dump() + ")";
      };
      double med = 0, spr = 0;
      for (const json& run : runs[l][v]) {
        auto [m, sp] = drift(run);
        med += m / double(seeds), spr += sp / double(seeds);
      }
      res << "| " << kVariants[v].label << " | " << three(p.front()) << " | " << three(p.back()) << " | "
          << fmt("%.2f", med) << " | " << fmt("%.2f", spr) << " |\n";
    }
    res << "\n";
    add_claims(r, lrs[l], runs[l], steps);
  }
  if (steps == 50000) {
    res << "### Against the reference points (an independent float32 re-implementation, 3 seeds, LR 0.1)\n\n"
        << "| step | BN (norma) | BN (reference) | no BN (norma) | no BN (reference) |\n| --- | --- | --- | --- | --- |\n";
    const std::vector<std::tuple<int64_t, std::string, std::string>> ref = {
        {500, "0.89-0.91", "0.10-0.11"}, {5000, "0.958-0.961", "0.10-0.11"}, {10000, "-", "0.10-0.11"},
        {20000, "-", "about 0.49"},      {50000, "0.980-0.982", "0.946-0.956"}};
    for (const auto& [s, bn, nobn] : ref) {
      std::vector<double> a, b;
      for (const json& run : runs[0][0]) a.push_back(accuracy_at(run, s));
      for (const json& run : runs[0][1]) b.push_back(accuracy_at(run, s));
      res << "| " << s << " | " << summary(a) << " | " << bn << " | " << summary(b) << " | " << nobn << " |\n";
    }
  }
  r.results = res.str();
  r.notes =
      "Figures 1(b) and 1(c) follow one unit of one seed, as the paper does; the drift columns summarise all seeds. "
      "The drift of a statistic is its range (max - min) over the measurements from step 1,000 on, divided by the "
      "15-85 spread at the last measurement, so it does not depend on the scale of the unit. The control shows how "
      "much of BN's head start is only the tiny N(0, 0.01^2) initialisation.";
  return r;
}

}  // namespace

Experiment bn_mnist_experiment() {
  Experiment e;
  e.name = "bn-mnist";
  e.summary = "BatchNorm on the MNIST sigmoid MLP: faster training, stable inputs (Ioffe & Szegedy 2015, Fig. 1)";
  e.description =
      "mlp 784-100-100-100-10 (sigmoid), weights N(0, 0.01^2), SGD on the mean cross-entropy, batch 60, 50,000 steps, "
      "LR 0.1 and 0.5, with and without BatchNorm, plus no BN with N(0, 1/fan_in) weights as a control; 3 seeds. Test "
      "accuracy at 500 steps and every 1,000; the 15/50/85th percentiles of a last-layer sigmoid input every 1,000. "
      "--quick: 5,000 steps, 1 seed.";
  e.run = run_bn_mnist;
  return e;
}

}  // namespace norma::apps::experiments
