// set_detect_anomaly / DetectAnomalyGuard (core/anomaly.h) and norma train --detect-anomaly:
// the first non-finite forward output or gradient names its op; off, nothing changes.
#include <doctest/doctest.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <limits>
#include <iostream>
#include <map>
#include <sstream>

#include "apps/commands.h"
#include "core/norma.h"
#include "core/profiler.h"
#include "data_helpers.h"
#include "layers/resnet/models.h"

using namespace norma;
using namespace norma_test;

namespace {
constexpr float kInf = std::numeric_limits<float>::infinity();

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("anomaly: off by default, and the guard restores the previous setting") {
  CHECK_FALSE(detect_anomaly_enabled());
  {
    DetectAnomalyGuard on;
    CHECK(detect_anomaly_enabled());
    {
      DetectAnomalyGuard off(false);
      CHECK_FALSE(detect_anomaly_enabled());
    }
    CHECK(detect_anomaly_enabled());
  }
  CHECK_FALSE(detect_anomaly_enabled());
}

TEST_CASE("anomaly: log of a negative or of zero names 'log' in the forward, with the element and shape") {
  DetectAnomalyGuard on;
  Tensor x = from_vector({1.f, 2.f, -1.f, 0.f, 3.f, -2.f}, {2, 3}).requires_grad_();
  Tensor y = x * 2.f;  // a finite op first: it must pass
  CHECK_ERROR(log(y), "detect_anomaly: the forward of 'log' produced nan at element [0, 2] (3 of 6 non-finite) in "
                      "its output of shape [2, 3]; its inputs were finite");
  CHECK_ERROR(log(from_vector({0.f, 1.f}, {2})), "the forward of 'log' produced -inf at element [0]");
  // Grad mode off (evaluation) is checked too.
  NoGradGuard no_grad;
  CHECK_ERROR(div(from_vector({1.f}, {1}), from_vector({0.f}, {1})), "the forward of 'div' produced inf");
}

TEST_CASE("anomaly: a non-finite input from outside the graph is named as such") {
  DetectAnomalyGuard on;
  Tensor w = from_vector({1.f, std::nanf(""), 2.f}, {3}).requires_grad_();  // e.g. a parameter gone bad
  CHECK_ERROR(w * 2.f, "the forward of 'mul_scalar' produced nan at element [1] (1 of 3 non-finite) in its output of "
                       "shape [3]; its input 0 (shape [3]) was already non-finite");
}

TEST_CASE("anomaly: a backward-only inf names the op in the backward, not the ops its closure calls") {
  DetectAnomalyGuard on;
  // sqrt(0) = 0 is finite; its gradient 1 / (2 sqrt(0)) is inf.
  Tensor x = from_vector({4.f, 0.f}, {2}).requires_grad_();
  Tensor y = sqrt(x).sum();
  CHECK(std::isfinite(y.item()));
  CHECK_ERROR(y.backward(), "detect_anomaly: the backward of 'sqrt' returned inf at element [1] (1 of 2 non-finite) "
                            "in the gradient for its input 0 of shape [2]; the gradient it received was finite");
  // div's backward computes g / b with div itself: that inner div is the closure's work, so the
  // error names div's backward (input 0), not a forward.
  Tensor a = from_vector({1.f}, {1}).requires_grad_();
  Tensor q = div(a, from_vector({1e-30f}, {1}));  // 1e30: finite
  CHECK_ERROR(q.backward(from_vector({1e10f}, {1})), "the backward of 'div' returned inf at element [0] (1 of 1 "
                                                     "non-finite) in the gradient for its input 0 of shape [1]");
}

TEST_CASE("anomaly: a gradient that overflows when summed, or a non-finite seed, is named where it flows in") {
  DetectAnomalyGuard on;
  Tensor x = from_vector({1.f}, {1}).requires_grad_();
  Tensor a = x * 1.f;
  Tensor out = a + a;  // a's node receives g + g
  CHECK_ERROR(out.backward(from_vector({3e38f}, {1}), /*retain_graph=*/true),
              "the gradient flowing into the backward of 'mul_scalar' holds inf at element [0]");
  CHECK_ERROR(out.backward(from_vector({kInf}, {1})), "the gradient flowing into the backward of 'add' holds inf");
}

TEST_CASE("anomaly: off nothing is checked, and on a finite lenet step gives the same bits") {
  // Off: NaN and inf flow through as before.
  Tensor x = from_vector({-1.f, 0.f}, {2}).requires_grad_();
  Tensor y = log(x);
  CHECK(std::isnan(y.at({0})));
  Tensor s = sqrt(from_vector({0.f}, {1}).requires_grad_());
  s.sum().backward();

  manual_seed(5);
  auto model = nn::make_model("lenet", nn::NormConfig{}, 10);
  Generator gen(9);
  Tensor images = randn({4, 1, 28, 28}, &gen);
  auto step = [&] {
    model->zero_grad();
    Tensor loss = cross_entropy((*model)(images), {1, 2, 3, 4});
    loss.backward();
    std::vector<float> bits = loss.to_vector();
    for (const Tensor& p : model->parameters())
      for (float v : p.grad().to_vector()) bits.push_back(v);
    return bits;
  };
  const std::vector<float> off = step();
  DetectAnomalyGuard on;
  CHECK(step() == off);
}

TEST_CASE("anomaly: the profiler counts the same ops with it on") {
  auto profile = [](bool anomaly) {
    DetectAnomalyGuard guard(anomaly);
    Tensor w = from_vector({1.f, 2.f, 3.f}, {3}).requires_grad_();
    profiler::start();
    Tensor l = (log(w) * w).sum();
    l.backward();
    profiler::stop();
    std::map<std::string, std::pair<int64_t, int64_t>> calls;
    for (const profiler::Entry& e : profiler::entries()) calls[e.name] = {e.forward_calls, e.backward_calls};
    return calls;
  };
  const auto off = profile(false), on = profile(true);
  CHECK(on == off);
  CHECK(on.at("log") == std::pair<int64_t, int64_t>{1, 1});
}

// lr 1e4, as test_train's divergence test, but with --max-loss 1e38: the loss explodes yet stays
// finite (the divergence check would stop it at step 2), while the gradients overflow at step 5.
// Without the flag such a run ends "done" with a NaN test loss; with it, it stops there.
TEST_CASE("anomaly: norma train --detect-anomaly names the first op of a diverging run") {
  TempDir tmp("train_anomaly");
  write_tiny_mnist(tmp / "data", 48, 20);
  auto train = [&](const std::string& out, bool anomaly) {
    CLI::App app;
    apps::register_commands(app);
    std::vector<std::string> args = {"train",      "--data-dir", tmp / "data", "--out", tmp / out, "--batch-size", "8",
                                     "--lr",       "1e4",        "--steps",    "30",    "--threads", "2",
                                     "--max-loss", "1e38"};
    if (anomaly) args.push_back("--detect-anomaly");
    std::reverse(args.begin(), args.end());  // CLI11 takes a vector in reverse order
    std::ostringstream progress;  // train prints to std::cout: keep it out of the test's output
    std::streambuf* console = std::cout.rdbuf(progress.rdbuf());
    const std::string error = error_of([&] { app.parse(args); });
    std::cout.rdbuf(console);
    return error;
  };
  const std::string plain = train("plain", false), checked = train("checked", true);
  INFO("without: " << plain);
  INFO("with --detect-anomaly: " << checked);
  CHECK(plain.find("detect_anomaly") == std::string::npos);
  CHECK(checked.find("detect_anomaly: the backward of 'matmul' returned -inf at element [") == 0);
  CHECK(checked.find("in the gradient for its input 1 of shape [3136, 128]") != std::string::npos);
  CHECK(checked.find("(training step 5 of epoch 1)") != std::string::npos);  // when, too
  CHECK_FALSE(detect_anomaly_enabled());  // the flag lasts the command only
}
