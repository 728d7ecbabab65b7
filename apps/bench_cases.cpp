#include "apps/bench_cases.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "core/kernels/gemm.h"
#include "core/norma.h"
#include "layers/norm/batch_norm.h"
#include "layers/norm/group_norm.h"
#include "layers/norm/layer_norm.h"
#include "layers/norm/rms_norm.h"
#include "layers/resnet/models.h"
#include "optim/sgd.h"

namespace norma::apps {
namespace {

using Run = std::function<void()>;

// C = A @ B for n x n matrices through sgemm: 2 n^3 flops.
BenchCase sgemm_case(int64_t n) {
  BenchCase c{"sgemm " + std::to_string(n) + "^3", "ms", 0, 2.0 * double(n) * double(n) * double(n), true, {}};
  c.setup = [n] {
    Generator gen(1);
    Tensor a = randn({n, n}, &gen), b = randn({n, n}, &gen), out = empty({n, n});
    return Run([a, b, out, n]() mutable {
      sgemm(false, false, n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, out.data(), n);
    });
  };
  return c;
}

// conv2d 3x3, 64 -> 64, padding 1, bias, on [128, 64, 32, 32]. The forward costs
// 2*N*C*C*9*S*S flops; the backward (input and weight gradients) twice that.
BenchCase conv_case(bool backward) {
  const int64_t N = 128, C = 64, S = 32;
  const double fwd = 2.0 * double(N * C * C * 9 * S * S);
  BenchCase c{std::string("conv2d 3x3 64->64 (128,64,32,32) ") + (backward ? "fwd+bwd" : "fwd"), "ms", 0,
              backward ? 3 * fwd : fwd, true, {}};
  c.setup = [=] {
    Generator gen(2);
    Tensor x = randn({N, C, S, S}, &gen), w = mul(randn({C, C, 3, 3}, &gen), 0.05f), b = randn({C}, &gen);
    Tensor gout = randn({N, C, S, S}, &gen);
    if (!backward)
      return Run([=] {
        NoGradGuard no_grad;
        conv2d(x, w, b, 1, 1);
      });
    x.requires_grad_(), w.requires_grad_(), b.requires_grad_();
    return Run([=]() mutable {
      x.zero_grad(), w.zero_grad(), b.zero_grad();
      conv2d(x, w, b, 1, 1).backward(gout);
    });
  };
  return c;
}

// A norm module's forward + backward on a random input (training mode, affine parameters).
BenchCase norm_case(const std::string& name, Shape shape, std::function<std::shared_ptr<nn::Module>()> make) {
  BenchCase c{name, "ms", 0, 0, false, {}};
  c.setup = [shape, make] {
    Generator gen(3);
    std::shared_ptr<nn::Module> m = make();
    Tensor x = randn(shape, &gen), gout = randn(shape, &gen);
    x.requires_grad_();
    return Run([m, x, gout]() mutable {
      x.zero_grad();
      for (Tensor& p : m->parameters()) p.zero_grad();
      (*m)(x).backward(gout);
    });
  };
  return c;
}

struct Model {
  std::shared_ptr<nn::Module> net;
  Tensor x;
  std::vector<int64_t> labels;
};

Model make_bench_model(const std::string& name, const std::string& norm, int64_t batch) {
  Generator gen(4);
  manual_seed(4);
  nn::NormConfig cfg;
  cfg.kind = norm;
  Model m{nn::make_model(name, cfg), {}, {}};
  Shape shape = nn::model_info(name).input_shape;
  shape.insert(shape.begin(), batch);
  m.x = randn(shape, &gen);
  for (int64_t i = 0; i < batch; ++i) m.labels.push_back(int64_t(gen.randint(10)));
  return m;
}

BenchCase model_case(const std::string& name, const std::string& norm, int64_t batch, bool train) {
  BenchCase c{name + "-" + norm + (train ? " train" : " infer") + " b" + std::to_string(batch), "img/s",
              double(batch), 0, name == "resnet20" && norm == "bn" && train, {}};
  c.setup = [=]() -> Run {
    if (train) return make_train_step(name, norm, batch);
    Model m = make_bench_model(name, norm, batch);
    m.net->eval();
    return [m] {
      NoGradGuard no_grad;
      (*m.net)(m.x);
    };
  };
  return c;
}

}  // namespace

TrainStep make_train_step(const std::string& name, const std::string& norm, int64_t batch) {
  Model m = make_bench_model(name, norm, batch);
  m.net->train();
  auto opt = std::make_shared<optim::SGD>(m.net->parameters(), 0.01, 0.9);
  TrainStep s;
  s.forward_backward = [m] { cross_entropy((*m.net)(m.x), m.labels).backward(); };
  s.update = [opt] {
    opt->step();
    opt->zero_grad();
  };
  return s;
}

std::vector<BenchCase> bench_cases() {
  std::vector<BenchCase> cases;
  for (bool train : {true, false}) {
    cases.push_back(model_case("mlp", "bn", 60, train));
    cases.push_back(model_case("lenet", "bn", 128, train));
    cases.push_back(model_case("resnet20", "bn", 128, train));
    cases.push_back(model_case("resnet20", "gn", 128, train));
  }
  cases.push_back(sgemm_case(1024));
  cases.push_back(sgemm_case(4096));
  cases.push_back(conv_case(false));
  cases.push_back(conv_case(true));
  const Shape image{128, 64, 32, 32}, rows{8192, 1024};
  cases.push_back(norm_case("batchnorm2d (128,64,32,32) fwd+bwd", image,
                            [] { return std::make_shared<nn::BatchNorm2d>(64); }));
  cases.push_back(norm_case("groupnorm(32) (128,64,32,32) fwd+bwd", image,
                            [] { return std::make_shared<nn::GroupNorm>(32, 64); }));
  cases.push_back(norm_case("layernorm (8192,1024) fwd+bwd", rows,
                            [] { return std::make_shared<nn::LayerNorm>(Shape{1024}); }));
  cases.push_back(norm_case("rmsnorm (8192,1024) fwd+bwd", rows,
                            [] { return std::make_shared<nn::RMSNorm>(Shape{1024}); }));
  return cases;
}

double median_seconds(const std::function<void()>& run, int repeats) {
  using Clock = std::chrono::steady_clock;
  auto seconds = [&](int iters) {
    const Clock::time_point t0 = Clock::now();
    for (int i = 0; i < iters; ++i) run();
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };
  seconds(1);  // warm-up: fills the allocator's cache and the per-thread workspaces
  const double once = seconds(1);
  const int iters = int(std::clamp(std::ceil(0.05 / std::max(once, 1e-9)), 1.0, 10000.0));
  std::vector<double> per_iter;
  for (int r = 0; r < repeats; ++r) per_iter.push_back(seconds(iters) / iters);
  std::sort(per_iter.begin(), per_iter.end());
  const size_t n = per_iter.size();
  return n % 2 ? per_iter[n / 2] : 0.5 * (per_iter[n / 2 - 1] + per_iter[n / 2]);
}

PeakRss measure_peak_rss() {
  TrainStep step = make_train_step("resnet20", "bn", 128);
  PeakRss r;
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  r.before_bytes = double(resident) * double(sysconf(_SC_PAGESIZE));
  for (int i = 0; i < 3; ++i) step();
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmHWM:", 0) == 0) r.peak_bytes = std::atof(line.c_str() + 6) * 1024.0;  // in kB
  return r;
}

}  // namespace norma::apps
