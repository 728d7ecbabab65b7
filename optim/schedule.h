// Learning-rate schedules, as torch.optim.lr_scheduler, written as pure functions of the step
// count so that a resumed run gets exactly the same rates (nothing to save but the step).
//
// PyTorch's schedulers compute each lr from the previous one (chainable form); these use the
// closed forms, which give the same sequences up to float rounding (tests/test_schedule.cpp
// compares them to PyTorch's to 1e-6 relative). `step` counts optimizer steps taken so far, as
// a PyTorch scheduler's last_epoch after that many scheduler.step() calls:
//
//   optim::ScheduleOptions so;
//   so.total_steps = total;
//   auto schedule = optim::make_schedule("cosine", so);   // or one of the classes below
//   for (int64_t step = 0; step < total; ++step) {
//     schedule->apply(opt, step);   // every group's lr from its initial lr
//     ...forward, backward...; opt.step(); opt.zero_grad();
//   }
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "optim/optimizer.h"

namespace norma::optim {

class Schedule {
 public:
  virtual ~Schedule() = default;
  // The lr at `step` (>= 0) of a group whose initial lr is base_lr (OneCycleLR: its peak).
  virtual double lr_at(int64_t step, double base_lr) const = 0;
  // The momentum (SGD) or beta1 (Adam) at `step`, for schedules that cycle it (OneCycleLR).
  virtual std::optional<double> momentum_at(int64_t /*step*/) const { return std::nullopt; }
  // "CosineAnnealingLR(T_max=100, eta_min=0)", for logs and configs.
  virtual std::string str() const = 0;
  // Sets every group's lr to lr_at(step, its "initial_lr"), and its momentum or beta1 when
  // the schedule cycles momentum, as PyTorch schedules each group from its own initial lr.
  void apply(Optimizer& opt, int64_t step) const;
};

// lr = base_lr
class Constant : public Schedule {
 public:
  double lr_at(int64_t step, double base_lr) const override;
  std::string str() const override { return "Constant()"; }
};

// lr = base_lr * gamma^floor(step / step_size)
class StepLR : public Schedule {
 public:
  explicit StepLR(int64_t step_size, double gamma = 0.1);
  double lr_at(int64_t step, double base_lr) const override;
  std::string str() const override;

 private:
  int64_t step_size_;
  double gamma_;
};

// lr = base_lr * gamma^(number of milestones <= step); a repeated milestone counts twice
class MultiStepLR : public Schedule {
 public:
  explicit MultiStepLR(std::vector<int64_t> milestones, double gamma = 0.1);
  double lr_at(int64_t step, double base_lr) const override;
  std::string str() const override;

 private:
  std::vector<int64_t> milestones_;  // sorted
  double gamma_;
};

// lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * step / T_max)) / 2 (rising again after T_max)
class CosineAnnealingLR : public Schedule {
 public:
  explicit CosineAnnealingLR(int64_t T_max, double eta_min = 0);
  double lr_at(int64_t step, double base_lr) const override;
  std::string str() const override;

 private:
  int64_t T_max_;
  double eta_min_;
};

// lr = base_lr * (start + (end - start) * min(step, total_iters) / total_iters)
class LinearLR : public Schedule {
 public:
  explicit LinearLR(double start_factor = 1.0 / 3, double end_factor = 1.0, int64_t total_iters = 5);
  double lr_at(int64_t step, double base_lr) const override;
  std::string str() const override;

 private:
  double start_, end_;
  int64_t total_iters_;
};

// schedules[k] from milestones[k-1] on, counting its steps from there (PyTorch's SequentialLR).
class SequentialLR : public Schedule {
 public:
  SequentialLR(std::vector<std::shared_ptr<Schedule>> schedules, std::vector<int64_t> milestones);
  double lr_at(int64_t step, double base_lr) const override;
  std::optional<double> momentum_at(int64_t step) const override;
  std::string str() const override;

 private:
  // The schedule in charge at `step` and the step it counts from.
  std::pair<const Schedule*, int64_t> at(int64_t step) const;
  std::vector<std::shared_ptr<Schedule>> schedules_;
  std::vector<int64_t> milestones_;
};

// Linear warm-up from start_factor * base_lr over warmup_steps, then `after` (counting from 0
// at the end of the warm-up): SequentialLR({LinearLR(start_factor, 1, warmup_steps), after}, {warmup_steps}).
std::shared_ptr<Schedule> warmup(int64_t warmup_steps, std::shared_ptr<Schedule> after, double start_factor = 1.0 / 3);

// The 1cycle policy (PyTorch's OneCycleLR) with max_lr = each group's initial lr: from
// max_lr / div_factor up to max_lr over pct_start of total_steps, then down to
// max_lr / div_factor / final_div_factor ("cos" or "linear" annealing). three_phase: up, back
// down to the start, then to the minimum. cycle_momentum (PyTorch's default): momentum / beta1
// goes the other way, max_momentum -> base_momentum -> max_momentum.
struct OneCycleOptions {
  double pct_start = 0.3;
  std::string anneal_strategy = "cos";
  double div_factor = 25, final_div_factor = 1e4;
  bool three_phase = false;
  bool cycle_momentum = true;
  double base_momentum = 0.85, max_momentum = 0.95;
};

class OneCycleLR : public Schedule {
 public:
  explicit OneCycleLR(int64_t total_steps, OneCycleOptions options = {});
  double lr_at(int64_t step, double base_lr) const override;
  std::optional<double> momentum_at(int64_t step) const override;
  std::string str() const override;

 private:
  enum Level { kInitial, kMax, kMin };  // max_lr / div_factor, max_lr, initial / final_div_factor
  struct Phase {
    double end_step;
    Level start_lr, end_lr;
    double start_momentum, end_momentum;
  };
  double level(Level l, double max_lr) const;
  // The phase holding `step` and how far through it (0..1; a little past 1 at total_steps).
  std::pair<const Phase*, double> locate(int64_t step) const;
  double anneal(double start, double end, double pct) const;
  int64_t total_steps_;
  OneCycleOptions o_;
  std::vector<Phase> phases_;
};

// ---- By name (the command line's --schedule and --warmup) --------------------------------
struct ScheduleOptions {
  int64_t total_steps = 0;     // the whole run; every schedule but "constant" needs it
  int64_t warmup_steps = 0;    // > 0: linear warm-up first (not with "onecycle", which has its own)
  double warmup_start_factor = 1.0 / 3;
  double gamma = 0.1;                // "step", "multistep"
  int64_t step_size = 0;             // "step": 0 = a third of the steps after the warm-up
  std::vector<int64_t> milestones;   // "multistep" (counted after the warm-up): empty = 1/2 and 3/4 of them
  double eta_min = 0;                // "cosine": anneals over the steps after the warm-up
  OneCycleOptions onecycle;          // "onecycle"
};

// "constant", "step", "multistep", "cosine" or "onecycle"; anything else is an error listing them.
std::shared_ptr<Schedule> make_schedule(const std::string& name, const ScheduleOptions& options = {});
const std::vector<std::string>& schedule_names();

}  // namespace norma::optim
