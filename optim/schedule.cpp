// LR schedules: closed forms of torch.optim.lr_scheduler's (PyTorch 1.13) sequences.
#include "optim/schedule.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace norma::optim {

namespace {
void check_step(int64_t step, const char* name) {
  NORMA_CHECK(step >= 0, name, ": step must be >= 0, got ", step);
}
template <typename... Args>
std::string format(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace

void Schedule::apply(Optimizer& opt, int64_t step) const {
  std::optional<double> momentum = momentum_at(step);
  for (ParamGroup& g : opt.param_groups()) {
    g.options["lr"] = lr_at(step, g.get("initial_lr"));
    if (!momentum) continue;
    // PyTorch's OneCycleLR sets SGD's momentum, or beta1 of Adam's betas.
    const char* key = g.options.count("momentum") ? "momentum" : g.options.count("beta1") ? "beta1" : nullptr;
    NORMA_CHECK(key, str(), ": cycling momentum needs an optimizer with a momentum or beta1 option (", opt.name(),
                " has neither)");
    g.options[key] = *momentum;
  }
}

double Constant::lr_at(int64_t step, double base_lr) const {
  check_step(step, "Constant");
  return base_lr;
}

StepLR::StepLR(int64_t step_size, double gamma) : step_size_(step_size), gamma_(gamma) {
  NORMA_CHECK(step_size > 0, "StepLR: step_size must be > 0, got ", step_size);
}
double StepLR::lr_at(int64_t step, double base_lr) const {
  check_step(step, "StepLR");
  return base_lr * std::pow(gamma_, double(step / step_size_));
}
std::string StepLR::str() const { return format("StepLR(step_size=", step_size_, ", gamma=", gamma_, ")"); }

MultiStepLR::MultiStepLR(std::vector<int64_t> milestones, double gamma) : milestones_(std::move(milestones)), gamma_(gamma) {
  std::sort(milestones_.begin(), milestones_.end());
}
double MultiStepLR::lr_at(int64_t step, double base_lr) const {
  check_step(step, "MultiStepLR");
  // number of milestones <= step (bisect_right)
  auto passed = std::upper_bound(milestones_.begin(), milestones_.end(), step) - milestones_.begin();
  return base_lr * std::pow(gamma_, double(passed));
}
std::string MultiStepLR::str() const {
  std::string m;
  for (int64_t v : milestones_) m += (m.empty() ? "" : ", ") + std::to_string(v);
  return format("MultiStepLR(milestones=[", m, "], gamma=", gamma_, ")");
}

CosineAnnealingLR::CosineAnnealingLR(int64_t T_max, double eta_min) : T_max_(T_max), eta_min_(eta_min) {
  NORMA_CHECK(T_max > 0, "CosineAnnealingLR: T_max must be > 0, got ", T_max);
}
double CosineAnnealingLR::lr_at(int64_t step, double base_lr) const {
  check_step(step, "CosineAnnealingLR");
  return eta_min_ + (base_lr - eta_min_) * (1 + std::cos(M_PI * double(step) / double(T_max_))) / 2;
}
std::string CosineAnnealingLR::str() const {
  return format("CosineAnnealingLR(T_max=", T_max_, ", eta_min=", eta_min_, ")");
}

LinearLR::LinearLR(double start_factor, double end_factor, int64_t total_iters)
    : start_(start_factor), end_(end_factor), total_iters_(total_iters) {
  NORMA_CHECK(start_factor > 0 && start_factor <= 1, "LinearLR: start_factor must be in (0, 1], got ", start_factor);
  NORMA_CHECK(end_factor >= 0 && end_factor <= 1, "LinearLR: end_factor must be in [0, 1], got ", end_factor);
  NORMA_CHECK(total_iters > 0, "LinearLR: total_iters must be > 0, got ", total_iters);
}
double LinearLR::lr_at(int64_t step, double base_lr) const {
  check_step(step, "LinearLR");
  return base_lr * (start_ + (end_ - start_) * double(std::min(step, total_iters_)) / double(total_iters_));
}
std::string LinearLR::str() const {
  return format("LinearLR(start_factor=", start_, ", end_factor=", end_, ", total_iters=", total_iters_, ")");
}

SequentialLR::SequentialLR(std::vector<std::shared_ptr<Schedule>> schedules, std::vector<int64_t> milestones)
    : schedules_(std::move(schedules)), milestones_(std::move(milestones)) {
  NORMA_CHECK(!schedules_.empty() && schedules_.size() == milestones_.size() + 1,
              "SequentialLR: expected one more schedule than milestones, got ", schedules_.size(),
              " schedules and ", milestones_.size(), " milestones");
  for (size_t k = 0; k < milestones_.size(); ++k)
    NORMA_CHECK(milestones_[k] > (k ? milestones_[k - 1] : 0), "SequentialLR: milestones must be increasing and > 0");
  for (const auto& s : schedules_) NORMA_CHECK(s != nullptr, "SequentialLR: a schedule is null");
}
std::pair<const Schedule*, int64_t> SequentialLR::at(int64_t step) const {
  check_step(step, "SequentialLR");
  size_t k = std::upper_bound(milestones_.begin(), milestones_.end(), step) - milestones_.begin();
  return {schedules_[k].get(), k ? milestones_[k - 1] : 0};
}
double SequentialLR::lr_at(int64_t step, double base_lr) const {
  auto [s, from] = at(step);
  return s->lr_at(step - from, base_lr);
}
std::optional<double> SequentialLR::momentum_at(int64_t step) const {
  auto [s, from] = at(step);
  return s->momentum_at(step - from);
}
std::string SequentialLR::str() const {
  std::string s = "SequentialLR([";
  for (size_t k = 0; k < schedules_.size(); ++k) s += (k ? ", " : "") + schedules_[k]->str();
  s += "], milestones=[";
  for (size_t k = 0; k < milestones_.size(); ++k) s += (k ? ", " : "") + std::to_string(milestones_[k]);
  return s + "])";
}

std::shared_ptr<Schedule> warmup(int64_t warmup_steps, std::shared_ptr<Schedule> after, double start_factor) {
  auto linear = std::make_shared<LinearLR>(start_factor, 1.0, warmup_steps);
  return std::make_shared<SequentialLR>(std::vector<std::shared_ptr<Schedule>>{linear, std::move(after)},
                                        std::vector<int64_t>{warmup_steps});
}

// PyTorch's phases end at float(pct_start * total_steps) - 1 (and twice that - 2, for the
// three-phase variant's second), and each starts where the previous one ended.
OneCycleLR::OneCycleLR(int64_t total_steps, OneCycleOptions options) : total_steps_(total_steps), o_(std::move(options)) {
  NORMA_CHECK(total_steps > 0, "OneCycleLR: total_steps must be > 0, got ", total_steps);
  NORMA_CHECK(o_.pct_start >= 0 && o_.pct_start <= 1, "OneCycleLR: pct_start must be in [0, 1], got ", o_.pct_start);
  NORMA_CHECK(o_.anneal_strategy == "cos" || o_.anneal_strategy == "linear",
              "OneCycleLR: anneal_strategy must be 'cos' or 'linear', got '", o_.anneal_strategy, "'");
  NORMA_CHECK(o_.div_factor > 0 && o_.final_div_factor > 0, "OneCycleLR: div_factor and final_div_factor must be > 0");
  const double up = o_.pct_start * double(total_steps) - 1, hi = o_.max_momentum, lo = o_.base_momentum;
  if (o_.three_phase)
    phases_ = {{up, kInitial, kMax, hi, lo}, {2 * o_.pct_start * double(total_steps) - 2, kMax, kInitial, lo, hi},
               {double(total_steps - 1), kInitial, kMin, hi, hi}};
  else
    phases_ = {{up, kInitial, kMax, hi, lo}, {double(total_steps - 1), kMax, kMin, lo, hi}};
  double start = 0;
  for (const Phase& p : phases_) {
    NORMA_CHECK(p.end_step != start, "OneCycleLR: total_steps ", total_steps, " with pct_start ", o_.pct_start,
                " leaves a phase of zero length");
    start = p.end_step;
  }
}
std::pair<const OneCycleLR::Phase*, double> OneCycleLR::locate(int64_t step) const {
  check_step(step, "OneCycleLR");
  NORMA_CHECK(step <= total_steps_, "OneCycleLR: step ", step, " is beyond total_steps ", total_steps_);
  double start = 0;
  for (size_t k = 0; k < phases_.size(); ++k) {
    const Phase& p = phases_[k];
    if (double(step) <= p.end_step || k + 1 == phases_.size()) return {&p, (double(step) - start) / (p.end_step - start)};
    start = p.end_step;
  }
  return {nullptr, 0};  // not reached: the last phase takes every remaining step
}
double OneCycleLR::anneal(double start, double end, double pct) const {
  if (o_.anneal_strategy == "cos") return end + (start - end) / 2.0 * (std::cos(M_PI * pct) + 1);
  return (end - start) * pct + start;
}
double OneCycleLR::lr_at(int64_t step, double max_lr) const {
  auto [p, pct] = locate(step);
  return anneal(level(p->start_lr, max_lr), level(p->end_lr, max_lr), pct);
}
double OneCycleLR::level(Level l, double max_lr) const {
  // PyTorch: initial_lr = max_lr / div_factor, min_lr = initial_lr / final_div_factor
  const double initial = max_lr / o_.div_factor;
  return l == kMax ? max_lr : l == kInitial ? initial : initial / o_.final_div_factor;
}
std::optional<double> OneCycleLR::momentum_at(int64_t step) const {
  if (!o_.cycle_momentum) return std::nullopt;
  auto [p, pct] = locate(step);
  return anneal(p->start_momentum, p->end_momentum, pct);
}
std::string OneCycleLR::str() const {
  return format("OneCycleLR(total_steps=", total_steps_, ", pct_start=", o_.pct_start, ", anneal_strategy=",
                o_.anneal_strategy, ", div_factor=", o_.div_factor, ", final_div_factor=", o_.final_div_factor,
                ", three_phase=", o_.three_phase, ", cycle_momentum=", o_.cycle_momentum, ")");
}

// ---- By name --------------------------------------------------------------------------------
const std::vector<std::string>& schedule_names() {
  static const std::vector<std::string> names{"constant", "step", "multistep", "cosine", "onecycle"};
  return names;
}

std::shared_ptr<Schedule> make_schedule(const std::string& name, const ScheduleOptions& o) {
  std::string valid;
  for (const std::string& n : schedule_names()) valid += (valid.empty() ? "" : ", ") + n;
  NORMA_CHECK(std::find(schedule_names().begin(), schedule_names().end(), name) != schedule_names().end(),
              "schedule: unknown schedule '", name, "' (valid: ", valid, ")");
  NORMA_CHECK(o.warmup_steps >= 0, "schedule: warmup steps must be >= 0, got ", o.warmup_steps);
  NORMA_CHECK(name == "constant" || o.total_steps > 0, "schedule: '", name, "' needs the total number of steps (got ",
              o.total_steps, ")");
  NORMA_CHECK(name == "constant" || o.warmup_steps < o.total_steps, "schedule: warmup steps (", o.warmup_steps,
              ") must be fewer than the total steps (", o.total_steps, ")");
  NORMA_CHECK(name != "onecycle" || o.warmup_steps == 0,
              "schedule: 'onecycle' warms up by itself (pct_start); use warmup 0 with it");
  const int64_t n = o.total_steps - o.warmup_steps;  // steps of the schedule after the warm-up
  std::shared_ptr<Schedule> s;
  if (name == "constant") {
    s = std::make_shared<Constant>();
  } else if (name == "step") {
    s = std::make_shared<StepLR>(o.step_size > 0 ? o.step_size : std::max<int64_t>(1, n / 3), o.gamma);
  } else if (name == "multistep") {
    s = std::make_shared<MultiStepLR>(o.milestones.empty() ? std::vector<int64_t>{n / 2, 3 * n / 4} : o.milestones,
                                      o.gamma);
  } else if (name == "cosine") {
    s = std::make_shared<CosineAnnealingLR>(n, o.eta_min);
  } else {
    s = std::make_shared<OneCycleLR>(o.total_steps, o.onecycle);
  }
  return o.warmup_steps > 0 ? warmup(o.warmup_steps, s, o.warmup_start_factor) : s;
}

}  // namespace norma::optim
