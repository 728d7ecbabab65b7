// norma bench: times a list of named cases and prints the median of R runs after a warm-up.
//
// Each case builds its inputs once (setup, untimed) and returns the closure that is timed. A
// case reports milliseconds and, where it knows its flop count, GFLOP/s. To add a case, append
// to bench_cases().
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "core/blas_kernels.h"
#include "core/kernels/gemm.h"
#include "core/norma.h"

namespace norma::apps {
namespace {

struct BenchCase {
  std::string name;
  double flops;                                  // per run; 0 = not reported
  bool large;                                    // only with --large
  std::function<std::function<void()>()> setup;  // builds inputs, returns the timed run
};

// C = A @ B for n x n matrices through sgemm: 2 n^3 flops.
BenchCase sgemm_case(int64_t n, bool large) {
  return {"sgemm " + std::to_string(n) + "^3", 2.0 * double(n) * double(n) * double(n), large, [n] {
            Generator gen(1);
            Tensor a = randn({n, n}, &gen), b = randn({n, n}, &gen), c = empty({n, n});
            return std::function<void()>([a, b, c, n]() mutable {
              sgemm(false, false, n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, c.data(), n);
            });
          }};
}

// conv2d 3x3, C -> C, padding 1, on [N, C, S, S]. The forward costs 2*N*C*C*9*S*S flops; the
// backward (input, weight and bias gradients) twice that.
BenchCase conv_case(int64_t N, int64_t C, int64_t S, bool backward) {
  const double fwd = 2.0 * double(N * C * C * 9 * S * S);
  std::string name = "conv2d 3x3 " + std::to_string(C) + "->" + std::to_string(C) + " [" + std::to_string(N) + "," +
                     std::to_string(C) + "," + std::to_string(S) + "," + std::to_string(S) + "]" +
                     (backward ? " fwd+bwd" : " fwd");
  return {name, backward ? 3 * fwd : fwd, false, [=] {
            Generator gen(2);
            Tensor x = randn({N, C, S, S}, &gen), w = mul(randn({C, C, 3, 3}, &gen), 0.05f), b = randn({C}, &gen);
            Tensor gout = randn({N, C, S, S}, &gen);
            if (!backward)
              return std::function<void()>([=]() mutable {
                NoGradGuard no_grad;
                conv2d(x, w, b, 1, 1);
              });
            x.requires_grad_(), w.requires_grad_(), b.requires_grad_();
            return std::function<void()>([=]() mutable {
              x.zero_grad(), w.zero_grad(), b.zero_grad();
              conv2d(x, w, b, 1, 1).backward(gout);
            });
          }};
}

std::vector<BenchCase> bench_cases() {
  return {sgemm_case(1024, false), sgemm_case(4096, true), conv_case(128, 64, 32, false), conv_case(128, 64, 32, true)};
}

double median_ms(const std::function<void()>& run, int repeats) {
  run();  // warm-up: fills the allocator cache and per-thread workspaces
  std::vector<double> ms;
  for (int r = 0; r < repeats; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    run();
    auto t1 = std::chrono::steady_clock::now();
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms.size() % 2 ? ms[ms.size() / 2] : 0.5 * (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]);
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Time sgemm and conv2d (median of R runs after a warm-up)");
  struct Options {
    int threads = 2, repeats = 5;
    bool large = false;
    std::string filter;
  };
  auto opt = std::make_shared<Options>();
  cmd->add_option("--threads", opt->threads, "Threads for norma and OpenBLAS")
      ->default_val(2)
      ->check(CLI::PositiveNumber);
  cmd->add_option("--repeats", opt->repeats, "Timed runs per case (the median is shown)")
      ->default_val(5)
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--large", opt->large, "Also run the large cases (sgemm 4096^3)");
  cmd->add_option("--filter", opt->filter, "Only the cases whose name contains this text");
  cmd->callback([opt] {
    set_num_threads(opt->threads);
    std::printf("norma bench: %d threads, median of %d runs after a warm-up, OpenBLAS kernels: %s\n", opt->threads,
                opt->repeats, blas_core_name());
    std::printf("%-40s %12s %10s\n", "case", "median ms", "GFLOP/s");
    for (const BenchCase& c : bench_cases()) {
      if (c.large && !opt->large) continue;
      if (!opt->filter.empty() && c.name.find(opt->filter) == std::string::npos) continue;
      double ms = median_ms(c.setup(), opt->repeats);
      std::printf("%-40s %12.2f", c.name.c_str(), ms);
      if (c.flops > 0) std::printf(" %10.1f", c.flops / (ms * 1e6));
      std::printf("\n");
      std::fflush(stdout);
    }
  });
}

}  // namespace norma::apps
