// LR schedules against PyTorch's lr_scheduler (tests/fixtures/gen_schedule.py), the factory
// by name, and error messages.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <memory>
#include <string>

#include "core/norma.h"
#include "fixtures.h"
#include "optim/adam.h"
#include "optim/schedule.h"
#include "optim/sgd.h"

using namespace norma;
using namespace norma::optim;
using norma::testing::fixture_file;

namespace {
// The fixture's optimizer: two groups with lr 0.1 and 0.02 (SGD momentum 0.9, or Adam).
std::unique_ptr<Optimizer> two_groups(bool adam, Tensor& p, Tensor& q) {
  p = zeros({2}).requires_grad_();
  q = zeros({3}).requires_grad_();
  std::vector<ParamGroup> groups{ParamGroup({p}, {{"lr", 0.1}}), ParamGroup({q}, {{"lr", 0.02}})};
  if (adam) return std::make_unique<Adam>(groups);
  return std::make_unique<SGD>(groups, 0.1, 0.9);
}

// |a - b| <= 1e-6 |b| (and 1e-15 absolute for rates that are 0 up to rounding).
bool close(double a, double b) { return std::fabs(a - b) <= 1e-6 * std::fabs(b) + 1e-15; }

// Applies `s` at every step of fixture case `kase` and compares each group's lr (and momentum
// or beta1, where the fixture has them) with PyTorch's to 1e-6 relative.
void check_against_fixture(const Schedule& s, const std::string& kase) {
  INFO(kase << ": " << s.str());
  const nlohmann::json& f = fixture_file("schedule").at(kase);
  Tensor p, q;
  auto opt = two_groups(kase.find("adam") != std::string::npos, p, q);
  const auto lrs = f.at("lrs").get<std::vector<std::vector<double>>>();
  for (size_t step = 0; step < lrs.size(); ++step) {
    CAPTURE(step);
    s.apply(*opt, int64_t(step));
    for (size_t g = 0; g < 2; ++g) {
      CAPTURE(g);
      CHECK_MESSAGE(close(opt->lr(g), lrs[step][g]), opt->lr(g) << " vs PyTorch's " << lrs[step][g]);
      if (f.contains("momentums")) {
        const ParamGroup& group = opt->param_groups()[g];
        double m = group.options.count("beta1") ? group.get("beta1") : group.get("momentum");
        double want = f.at("momentums")[step][g].get<double>();
        CHECK_MESSAGE(close(m, want), m << " vs PyTorch's " << want);
      }
    }
  }
}

std::shared_ptr<Schedule> cosine(int64_t T_max, double eta_min = 0) {
  return std::make_shared<CosineAnnealingLR>(T_max, eta_min);
}
}  // namespace

TEST_CASE("schedule: each schedule matches PyTorch's learning rates over 50 steps, two groups") {
  OneCycleOptions linear;
  linear.pct_start = 0.25, linear.anneal_strategy = "linear", linear.div_factor = 10, linear.final_div_factor = 100;
  OneCycleOptions three;
  three.three_phase = true;
  OneCycleOptions adam;
  adam.base_momentum = 0.8, adam.max_momentum = 0.9;
  std::map<std::string, std::shared_ptr<Schedule>> cases{
      {"step", std::make_shared<StepLR>(7, 0.5)},
      {"multistep", std::make_shared<MultiStepLR>(std::vector<int64_t>{40, 10, 25, 25}, 0.3)},
      {"cosine", cosine(30, 0.001)},
      {"cosine_plain", cosine(50)},
      {"linear", std::make_shared<LinearLR>(0.1, 1.0, 10)},
      {"linear_default", std::make_shared<LinearLR>()},
      {"linear_decay", std::make_shared<LinearLR>(1.0, 0.2, 20)},
      {"warmup_cosine", warmup(10, cosine(40), 0.1)},
      {"warmup_step", std::make_shared<SequentialLR>(
                          std::vector<std::shared_ptr<Schedule>>{std::make_shared<LinearLR>(1.0 / 3, 1.0, 5),
                                                                 std::make_shared<StepLR>(10, 0.5)},
                          std::vector<int64_t>{5})},
      {"onecycle", std::make_shared<OneCycleLR>(50)},
      {"onecycle_linear", std::make_shared<OneCycleLR>(50, linear)},
      {"onecycle_three_phase", std::make_shared<OneCycleLR>(50, three)},
      {"onecycle_adam", std::make_shared<OneCycleLR>(50, adam)},
  };
  REQUIRE(cases.size() == fixture_file("schedule").size());
  for (const auto& [name, s] : cases) check_against_fixture(*s, name);
}

TEST_CASE("schedule: make_schedule by name gives PyTorch's sequences") {
  ScheduleOptions o;
  o.total_steps = 50;
  check_against_fixture(*make_schedule("onecycle", o), "onecycle");
  o.step_size = 7, o.gamma = 0.5;
  check_against_fixture(*make_schedule("step", o), "step");
  o.milestones = {10, 25, 25, 40}, o.gamma = 0.3;
  check_against_fixture(*make_schedule("multistep", o), "multistep");
  o.warmup_steps = 10, o.warmup_start_factor = 0.1;
  check_against_fixture(*make_schedule("cosine", o), "warmup_cosine");
  o.warmup_steps = 5, o.warmup_start_factor = 1.0 / 3, o.step_size = 10, o.gamma = 0.5;
  check_against_fixture(*make_schedule("step", o), "warmup_step");
}

TEST_CASE("schedule: make_schedule's defaults follow the run length") {
  ScheduleOptions o;
  CHECK(make_schedule("constant")->lr_at(12345, 0.05) == 0.05);
  o.total_steps = 90;
  auto step = make_schedule("step", o);  // step_size 90 / 3, gamma 0.1
  CHECK(step->lr_at(29, 1.0) == 1.0);
  CHECK(step->lr_at(30, 1.0) == doctest::Approx(0.1));
  CHECK(step->lr_at(89, 1.0) == doctest::Approx(0.01));
  auto multi = make_schedule("multistep", o);  // milestones 45, 67
  CHECK(multi->lr_at(44, 1.0) == 1.0);
  CHECK(multi->lr_at(45, 1.0) == doctest::Approx(0.1));
  CHECK(multi->lr_at(67, 1.0) == doctest::Approx(0.01));
  o.warmup_steps = 10;
  auto cos = make_schedule("cosine", o);  // warm up 10 steps from 1/3, then cosine over 80 to 0
  CHECK(cos->lr_at(0, 0.3) == doctest::Approx(0.1));
  CHECK(cos->lr_at(10, 0.3) == doctest::Approx(0.3));
  CHECK(cos->lr_at(50, 0.3) == doctest::Approx(0.15));
  CHECK(cos->lr_at(90, 0.3) == doctest::Approx(0).epsilon(1e-12));
  CHECK(cos->str() == "SequentialLR([LinearLR(start_factor=0.333333, end_factor=1, total_iters=10), "
                      "CosineAnnealingLR(T_max=80, eta_min=0)], milestones=[10])");
}

TEST_CASE("schedule: bad names and arguments are errors naming the schedule") {
  ScheduleOptions o;
  CHECK_THROWS_WITH_AS(make_schedule("cosin", o),
                       doctest::Contains("unknown schedule 'cosin' (valid: constant, step, multistep, cosine, onecycle)"),
                       norma::Error);
  CHECK_THROWS_WITH_AS(make_schedule("cosine", o), doctest::Contains("'cosine' needs the total number of steps"),
                       norma::Error);
  o.total_steps = 100, o.warmup_steps = 100;
  CHECK_THROWS_WITH_AS(make_schedule("step", o), doctest::Contains("warmup steps (100) must be fewer than the total steps (100)"),
                       norma::Error);
  o.warmup_steps = 10;
  CHECK_THROWS_WITH_AS(make_schedule("onecycle", o), doctest::Contains("'onecycle' warms up by itself"), norma::Error);
  CHECK_THROWS_WITH_AS(OneCycleLR(100).lr_at(101, 0.1), doctest::Contains("OneCycleLR: step 101 is beyond total_steps 100"),
                       norma::Error);
  CHECK(OneCycleLR(100).lr_at(100, 0.1) > 0);  // step == total_steps is allowed, as in PyTorch
  CHECK_THROWS_WITH_AS(OneCycleLR(10, [] { OneCycleOptions x; x.anneal_strategy = "exp"; return x; }()),
                       doctest::Contains("anneal_strategy must be 'cos' or 'linear', got 'exp'"), norma::Error);
  CHECK_THROWS_WITH_AS(StepLR(0), doctest::Contains("StepLR: step_size must be > 0, got 0"), norma::Error);
  CHECK_THROWS_WITH_AS(CosineAnnealingLR(10).lr_at(-1, 0.1), doctest::Contains("CosineAnnealingLR: step must be >= 0"),
                       norma::Error);
  CHECK_THROWS_WITH_AS(LinearLR(0.0), doctest::Contains("LinearLR: start_factor must be in (0, 1]"), norma::Error);
  CHECK_THROWS_WITH_AS(SequentialLR({cosine(5)}, {5}), doctest::Contains("one more schedule than milestones"),
                       norma::Error);
}

TEST_CASE("schedule: apply scales each group from its initial lr, whatever lr it has now") {
  Tensor p, q;
  auto opt = two_groups(false, p, q);
  opt->set_lr(7.0);  // e.g. left over from a previous schedule: ignored
  StepLR(2, 0.5).apply(*opt, 5);
  CHECK(opt->lr(0) == doctest::Approx(0.1 * 0.25));
  CHECK(opt->lr(1) == doctest::Approx(0.02 * 0.25));
}
