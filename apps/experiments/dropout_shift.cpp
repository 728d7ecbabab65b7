// dropout-shift: Li, Chen, Hu & Yang (2019), "Understanding the disharmony between dropout and
// batch normalization by variance shift". Dropout in training scales the kept values by
// 1/(1-q), so the variance a following BN measures (and keeps as its running variance) is
// larger than what it sees in eval, where dropout is the identity. For x ~ N(c, v):
//   training: Var(dropout(x)) = E[x^2]/(1-q) - c^2 = (c^2 + v)/(1-q) - c^2
//   eval:     Var(x) = v
//   shift     = v / ((c^2 + v)/(1-q) - c^2)   (1 - q when c = 0)
// Part 1 checks this with norma's Dropout and BatchNorm1d; part 2 measures the shift and its
// cost in a lenet-like CNN with dropout in front of every hidden BN vs only after the last BN,
// and Li et al.'s remedy: re-estimating the BN statistics with dropout off.
#include <cmath>
#include <optional>

#include "apps/experiments/classifier_loop.h"
#include "apps/experiments/experiment_nets.h"
#include "apps/experiments/experiments_b.h"
#include "core/norma.h"
#include "data/loader.h"
#include "layers/dropout.h"
#include "layers/norm/batch_norm.h"

namespace norma::apps::experiments {

const char* const kDropoutShiftSummary = "Li et al. 2019: dropout before BatchNorm shifts its variance at test time";
const char* const kDropoutShiftDescription =
    "Part 1: x ~ N(c, 1) through Dropout(q) and BatchNorm1d, running statistics settled over 2,000 steps; "
    "the eval variance over the running variance against v/((c^2+v)/(1-q)-c^2) for c in {0, 1}, q in "
    "{0.1, 0.3, 0.5}. Part 2: a lenet-like CNN with BatchNorm and Dropout(0.5) in front of every hidden BN "
    "vs only after the last BN, 2 epochs, 2 seeds: the per-layer variance shift and the test accuracy, "
    "and both after re-estimating the BN statistics with dropout off. --quick: 500 steps in part 1, 200 "
    "training steps and 1 seed in part 2.";

double variance_shift_formula(double c, double v, double q) { return v / ((c * c + v) / (1 - q) - c * c); }

double measured_variance_shift(double c, double q, int64_t steps, int64_t batch_size, int64_t channels,
                               int64_t eval_samples, uint64_t seed) {
  Generator gen(seed);
  nn::Dropout drop{float(q)};
  nn::BatchNorm1d bn(channels);  // momentum 0.1
  NoGradGuard no_grad;
  manual_seed(seed ^ 0xd209);  // dropout's masks
  for (int64_t s = 0; s < steps; ++s) bn(drop(normal({batch_size, channels}, float(c), 1.f, &gen)));
  drop.eval(), bn.eval();
  // In eval dropout is the identity: BN's input is x itself.
  return bn_input_shift(drop(normal({eval_samples, channels}, float(c), 1.f, &gen)), bn.buffer("running_var"));
}

double bn_input_shift(const Tensor& input, const Tensor& running_var) {
  NORMA_CHECK(input.dim() >= 2 && running_var.shape() == Shape{input.size(1)}, "bn_input_shift: input ",
              input.shape(), " does not match running_var ", running_var.shape());
  Shape dims = {0};
  for (int64_t d = 2; d < input.dim(); ++d) dims.push_back(d);
  std::vector<float> v = var(input.detach(), dims, /*unbiased=*/false).to_vector(), rv = running_var.to_vector();
  double sum = 0;
  for (size_t k = 0; k < v.size(); ++k) sum += double(v[k]) / double(rv[k]);
  return sum / double(v.size());
}

namespace {
constexpr float kCnnDropout = 0.5f;

// Per BN layer of a DropoutCNN in eval mode, on `images`: the shift of each (bn1, bn2, bn3).
std::vector<double> layer_shifts(DropoutCNN& model, const Tensor& images) {
  std::vector<Tensor> taps;
  model.eval();
  model.taps = &taps;
  {
    NoGradGuard no_grad;
    model(images);
  }
  model.taps = nullptr;
  std::vector<double> out;
  for (int k = 0; k < 3; ++k)
    out.push_back(bn_input_shift(taps[size_t(k)], model.child("bn" + std::to_string(k + 1))->buffer("running_var")));
  return out;
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? NAN : s / double(v.size());
}
}  // namespace

Report run_dropout_shift(const Context& ctx) {
  // ---- Part 1: the closed form ----
  const int64_t settle = ctx.quick ? 500 : 2000;
  std::vector<std::vector<std::string>> rows1;
  std::string table1 = "| c | q | formula | measured | measured / formula |\n| --- | --- | --- | --- | --- |\n";
  double worst = 0;
  Plot p1;
  p1.file = "dropout-shift-closed-form";
  p1.title = "Dropout(q) then BN, x ~ N(c, 1): eval variance / running variance";
  p1.xlabel = "dropout rate q", p1.ylabel = "variance ratio";
  for (double c : {0.0, 1.0}) {
    Series formula, measured;
    formula.title = strf("formula, c = %g", c), measured.title = strf("norma, c = %g", c);
    for (double q : {0.1, 0.3, 0.5}) {
      const std::string key = strf("closed-c%g-q%g-steps%lld", c, q, (long long)settle);
      nlohmann::json r = cached_run(ctx, key, [&] {
        return nlohmann::json{{"ratio", measured_variance_shift(c, q, settle, 1024, 64, 20000, 7)}};
      });
      const double f = variance_shift_formula(c, 1, q), m = r["ratio"].get<double>();
      worst = std::max(worst, std::abs(m / f - 1));
      formula.x.push_back(q), formula.y.push_back(f), measured.x.push_back(q), measured.y.push_back(m);
      rows1.push_back({strf("%g", c), strf("%g", q), strf("%.5f", f), strf("%.5f", m)});
      table1 += strf("| %g | %g | %.4f | %.4f | %.4f |\n", c, q, f, m, m / f);
    }
    p1.series.push_back(formula), p1.series.push_back(measured);
  }
  write_csv(ctx, "dropout-shift-closed-form.csv", {"c", "q", "formula", "measured"}, rows1);
  render_plot(ctx, p1);

  // ---- Part 2: the CNN ----
  const int seeds = ctx.seeds_or(ctx.quick ? 1 : 2);
  const int64_t epochs = 2, max_steps = ctx.max_steps > 0 ? ctx.max_steps : ctx.quick ? 200 : 0;
  const int64_t recal_batches = ctx.quick ? 20 : 100, shift_images = 1000;
  std::optional<ClassifierData> data;
  auto mnist = [&]() -> const ClassifierData& {
    if (!data) data = load_mnist(ctx);
    return *data;
  };
  const std::vector<std::pair<DropoutCNN::Place, std::string>> places = {
      {DropoutCNN::Place::BeforeEveryBN, "before"}, {DropoutCNN::Place::AfterLastBN, "after"}};
  // [place][seed]: {accuracy, shifts[3], recal accuracy, recal shifts[3]}
  std::vector<std::vector<nlohmann::json>> runs(places.size());
  std::vector<std::vector<std::string>> rows2;
  for (size_t p = 0; p < places.size(); ++p)
    for (int seed = 0; seed < seeds; ++seed) {
      const std::string key = strf("cnn-%s-steps%lld-seed%d", places[p].second.c_str(), (long long)max_steps, seed);
      runs[p].push_back(cached_run(ctx, key, [&] {
        const ClassifierData& d = mnist();
        manual_seed(init_seed(uint64_t(seed)));
        DropoutCNN model(places[p].first, kCnnDropout);
        LoopOptions o;
        o.batch_size = 128, o.lr = 0.05, o.momentum = 0.9, o.epochs = epochs, o.max_steps = max_steps;
        o.seed = uint64_t(seed), o.label = key;
        train_classifier(model, d, o, ctx.log);
        const Tensor images = test_batch(d, shift_images).images;
        nlohmann::json r = {{"accuracy", test_accuracy(model, d)}, {"shift", layer_shifts(model, images)}};
        // Li et al.'s remedy: the BN statistics re-estimated on training batches with dropout off.
        data::LoaderOptions lo;
        lo.batch_size = 128, lo.seed = uint64_t(seed) + 1000, lo.transforms = d.train_transforms, lo.prefetch = false;
        data::DataLoader loader(d.train, lo);
        std::vector<Tensor> batches;
        for (int64_t i = 0; i < recal_batches; ++i) batches.push_back(loader.batch(0, i).images);
        recalibrate_batch_norm(model, batches);
        r["recal_accuracy"] = test_accuracy(model, d);
        r["recal_shift"] = layer_shifts(model, images);
        return r;
      }));
      const nlohmann::json& r = runs[p].back();
      for (int k = 0; k < 3; ++k)
        rows2.push_back({places[p].second, std::to_string(seed), strf("bn%d", k + 1),
                         strf("%.4f", r["shift"][size_t(k)].get<double>()),
                         strf("%.4f", r["recal_shift"][size_t(k)].get<double>()), strf("%.4f", r["accuracy"].get<double>()),
                         strf("%.4f", r["recal_accuracy"].get<double>())});
    }
  write_csv(ctx, "dropout-shift-cnn.csv",
            {"dropout", "seed", "layer", "shift", "shift_recalibrated", "accuracy", "accuracy_recalibrated"}, rows2);

  // Means over seeds.
  auto avg = [&](size_t p, const char* field, int k) {
    std::vector<double> v;
    for (const auto& r : runs[p]) v.push_back(k < 0 ? r[field].get<double>() : r[field][size_t(k)].get<double>());
    return mean(v);
  };
  Plot p2;
  p2.file = "dropout-shift-cnn-layers";
  p2.title = "lenet-like CNN, eval mode: variance each BN sees / its running variance";
  p2.xlabel = "BN layer", p2.ylabel = "variance ratio";
  std::string table2 = "| dropout | bn1 shift | bn2 shift | bn3 shift | test accuracy |\n| --- | --- | --- | --- | --- |\n";
  for (size_t p = 0; p < places.size(); ++p)
    for (bool recal : {false, true}) {
      if (recal && p == 1) continue;  // nothing to re-estimate for: no dropout in front of a BN
      Series s;
      s.title = places[p].second == "before" ? (recal ? "before every BN, stats re-estimated" : "before every BN")
                                             : "after the last BN";
      for (int k = 0; k < 3; ++k) s.x.push_back(k + 1), s.y.push_back(avg(p, recal ? "recal_shift" : "shift", k));
      p2.series.push_back(s);
      table2 += strf("| %s | %.3f | %.3f | %.3f | %.2f%% |\n", s.title.c_str(), s.y[0], s.y[1], s.y[2],
                     100 * avg(p, recal ? "recal_accuracy" : "accuracy", -1));
    }
  render_plot(ctx, p2);

  Report rep;
  rep.title = "Dropout before BatchNorm: the variance shift (Li, Chen, Hu & Yang 2019)";
  rep.setup = strf(
      "**Part 1.** 64 independent features x ~ N(c, 1) in batches of 1024 through norma's Dropout(q) and "
      "BatchNorm1d(64) (momentum 0.1) in training mode for %lld steps; then in eval mode a fresh batch of "
      "20,000: its per-feature variance (biased) over BN's running variance, averaged over the 64 features, "
      "against v/((c^2+v)/(1-q)-c^2) with v = 1. Pass: every ratio within 2%% of the formula.\n\n"
      "**Part 2.** MNIST, a lenet-like CNN: conv 3x3 32 (no bias), bn1, relu, max-pool, conv 3x3 64, bn2, "
      "relu, max-pool, fc 3136-128 (no bias), bn3, relu, fc 128-10. \"before\": Dropout(0.5) in front of conv2 "
      "and fc1, so it feeds bn2 and bn3 (bn1 sees the image); \"after\": one Dropout(0.5) after bn3's relu, in "
      "front of fc2. SGD lr 0.05 momentum 0.9, batch 128, %s, %d seed%s. Shift of a BN layer: the variance of "
      "its input in eval mode over the first %lld test images, per channel over the batch (and H, W), divided "
      "by its running variance, averaged over the channels. Re-estimated: every BN's running statistics "
      "recomputed (cumulative average) over %lld training batches of 128 with dropout off and the weights "
      "unchanged.",
      (long long)settle, max_steps > 0 ? strf("%lld steps", (long long)max_steps).c_str() : strf("%lld epochs", (long long)epochs).c_str(),
      seeds, seeds > 1 ? "s" : "", (long long)shift_images, (long long)recal_batches);
  rep.figures = {p1.file, p2.file};
  rep.results = "Part 1 (closed form):\n\n" + table1 + "\nPart 2 (CNN, means over seeds):\n\n" + table2;

  Claim c1;
  c1.claim = "The eval/train variance ratio of BN after Dropout(q) is v/((c^2+v)/(1-q)-c^2).";
  c1.verdict = worst <= 0.02 ? Verdict::Pass : Verdict::Fail;
  c1.evidence = strf("largest deviation of norma's measured ratio from the formula over the 6 settings: %.2f%% (pass: "
                     "at most 2%%)", 100 * worst);
  rep.claims.push_back(c1);

  const double b2 = avg(0, "shift", 1), b3 = avg(0, "shift", 2);
  double after_dev = 0;
  for (int k = 0; k < 3; ++k) after_dev = std::max(after_dev, std::abs(avg(1, "shift", k) - 1));
  Claim c2;
  c2.claim = "With dropout in front of a BN, the variance it sees in eval is smaller than its running variance; with "
             "dropout only after the last BN there is no shift.";
  c2.verdict = b2 < 0.9 && b3 < 0.9 && after_dev <= 0.1 ? Verdict::Pass : Verdict::Fail;
  c2.evidence = strf("\"before\": bn2 %.3f, bn3 %.3f; \"after\": every layer within %.3f of 1 (pass: before < 0.9 at "
                     "bn2 and bn3, after within 0.1 of 1)", b2, b3, after_dev);
  rep.claims.push_back(c2);

  const double acc_before = avg(0, "accuracy", -1), acc_after = avg(1, "accuracy", -1);
  const double acc_recal = avg(0, "recal_accuracy", -1);
  Claim c3;
  c3.claim = "The shift costs test accuracy: dropout only after the last BN beats dropout before every BN.";
  c3.verdict = acc_after - acc_before > 0.001 ? Verdict::Pass : Verdict::Fail;
  c3.evidence = strf("test accuracy: after %.2f%%, before %.2f%% (difference %.2f points; pass: above 0.1)",
                     100 * acc_after, 100 * acc_before, 100 * (acc_after - acc_before));
  rep.claims.push_back(c3);

  const double r2 = avg(0, "recal_shift", 1), r3 = avg(0, "recal_shift", 2);
  Claim c4;
  c4.claim = "Re-estimating the BN statistics with dropout off removes the shift and recovers accuracy.";
  c4.verdict = std::abs(r2 - 1) <= 0.1 && std::abs(r3 - 1) <= 0.1 && acc_recal >= acc_before ? Verdict::Pass
                                                                                              : Verdict::Fail;
  c4.evidence = strf("\"before\" re-estimated: bn2 %.3f, bn3 %.3f; accuracy %.2f%% (was %.2f%%) (pass: both within 0.1 "
                     "of 1, accuracy not lower)", r2, r3, 100 * acc_recal, 100 * acc_before);
  rep.claims.push_back(c4);
  rep.notes =
      "The \"before\" net has two dropout layers and the \"after\" net one, so part of any accuracy difference "
      "between them is the amount of dropout, not the shift; the re-estimated row separates the two (same "
      "weights, statistics without dropout). On MNIST both nets are near 99%, so accuracy differences are "
      "small; the shift ratios are the direct evidence.";
  return rep;
}

Experiment dropout_shift_experiment() {
  return {"dropout-shift", kDropoutShiftSummary, kDropoutShiftDescription, run_dropout_shift};
}

}  // namespace norma::apps::experiments
