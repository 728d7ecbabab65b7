#include "apps/experiments/cifar_runs.h"

#include <algorithm>
#include <cmath>

#include "apps/experiments/classifier_loop.h"

namespace norma::apps::experiments {
using json = nlohmann::json;

TrainOptions cifar_recipe(const Context& ctx, const std::string& model, const std::string& norm, double lr,
                          int64_t epochs, uint64_t seed, int64_t quick_steps) {
  TrainOptions o;
  o.data = "cifar10", o.model = model, o.norm = norm, o.norm_groups = 16;
  o.optimizer = "sgd", o.momentum = 0.9, o.weight_decay = 5e-4, o.batch_size = 128;
  o.lr = lr, o.schedule = "onecycle", o.augment = true, o.epochs = epochs, o.seed = seed;
  o.log_every = 10, o.checkpoint_every = 200, o.threads = ctx.threads;
  if (ctx.quick && quick_steps > 0) o.steps = quick_steps;
  if (ctx.max_steps > 0) o.steps = o.steps > 0 ? std::min(o.steps, ctx.max_steps) : ctx.max_steps;
  return o;
}

std::string cifar_key(const TrainOptions& o) {
  return o.model + "-" + o.norm + "-lr" + strf("%g", o.lr) + "-seed" + std::to_string(o.seed) +
         (o.steps > 0 ? "-steps" + std::to_string(o.steps) : "-e" + std::to_string(o.epochs));
}

double last_epoch_loss(const json& run) {
  if (!run.contains("loss") || run["loss"].empty()) return NAN;
  const int64_t last = run["loss_epoch"].back().get<int64_t>();
  double sum = 0;
  int n = 0;
  for (size_t i = 0; i < run["loss"].size(); ++i)
    if (run["loss_epoch"][i].get<int64_t>() == last) sum += run["loss"][i].get<double>(), ++n;
  return sum / n;
}

double final_accuracy(const json& run) {
  return run["diverged"].get<bool>() ? NAN : run["test_accuracy"].get<double>();
}

double accuracy_at_epoch(const json& run, int64_t epoch) {
  double a = NAN;
  if (!run.contains("eval_epoch")) return a;
  for (size_t i = 0; i < run["eval_epoch"].size(); ++i)
    if (run["eval_epoch"][i].get<int64_t>() <= epoch) a = run["test_accuracy_curve"][i].get<double>();
  return a;
}

Series accuracy_series(const std::string& title, const json& run, int64_t steps_per_epoch) {
  Series s{title, {}, {}, {}, {}};
  if (!run.contains("eval_step")) return s;
  for (size_t i = 0; i < run["eval_step"].size(); ++i) {
    s.x.push_back(run["eval_step"][i].get<double>() / double(steps_per_epoch));
    s.y.push_back(run["test_accuracy_curve"][i].get<double>());
  }
  return s;
}

Series loss_series(const std::string& title, const json& run) {
  Series s{title, {}, {}, {}, {}};
  if (!run.contains("loss_step")) return s;
  for (size_t i = 0; i < run["loss_step"].size(); ++i) {
    s.x.push_back(run["loss_step"][i].get<double>());
    s.y.push_back(run["loss"][i].get<double>());
  }
  return s;
}

std::string accuracy_text(double a, bool diverged) {
  return diverged ? "diverged" : std::isnan(a) ? "n/a" : strf("%.4f", a);
}

}  // namespace norma::apps::experiments
