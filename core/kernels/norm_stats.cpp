#include "core/kernels/norm_stats.h"

#include <cstddef>
#include <vector>

namespace norma {
namespace {
constexpr int64_t kGrain = 32768;  // elements below which loops stay on one thread
}

void channel_sums(const float* x, int64_t outer, int64_t C, int64_t inner, double* sum) {
#pragma omp parallel for schedule(static) if (outer * C * inner > kGrain)
  for (int64_t c = 0; c < C; ++c) {
    double s = 0.0;
    for (int64_t o = 0; o < outer; ++o) {
      const float* p = x + (o * C + c) * inner;
#pragma omp simd reduction(+ : s)
      for (int64_t i = 0; i < inner; ++i) s += p[i];
    }
    sum[c] = s;
  }
}

void channel_sq_dev(const float* x, int64_t outer, int64_t C, int64_t inner, const double* mean, double* sq) {
#pragma omp parallel for schedule(static) if (outer * C * inner > kGrain)
  for (int64_t c = 0; c < C; ++c) {
    const double m = mean[c];
    double ss = 0.0;
    for (int64_t o = 0; o < outer; ++o) {
      const float* p = x + (o * C + c) * inner;
#pragma omp simd reduction(+ : ss)
      for (int64_t i = 0; i < inner; ++i) ss += (p[i] - m) * (p[i] - m);
    }
    sq[c] = ss;
  }
}

void channel_mean_var(const float* x, int64_t outer, int64_t C, int64_t inner, float* mean, float* var,
                      float* mean_lo) {
  const int64_t M = outer * inner;
  std::vector<double> sum(static_cast<size_t>(C)), sq(static_cast<size_t>(C));
  channel_sums(x, outer, C, inner, sum.data());
  for (int64_t c = 0; c < C; ++c) sum[size_t(c)] = M > 0 ? sum[size_t(c)] / double(M) : 0.0;  // now the mean
  channel_sq_dev(x, outer, C, inner, sum.data(), sq.data());
  for (int64_t c = 0; c < C; ++c) {
    float lo;
    split_mean(sum[size_t(c)], mean[c], lo);
    if (mean_lo) mean_lo[c] = lo;
    var[c] = M > 0 ? float(sq[size_t(c)] / double(M)) : 0.f;
  }
}

void row_mean_var(const float* x, int64_t rows, int64_t cols, float* mean, float* var, float* mean_lo) {
  channel_mean_var(x, 1, rows, cols, mean, var, mean_lo);
}

void channel_grad_sums(const float* dy, const float* x, const float* mean, const float* rstd, int64_t outer, int64_t C,
                       int64_t inner, float* sum_dy, float* sum_dy_xhat, const float* mean_lo) {
#pragma omp parallel for schedule(static) if (outer * C * inner > kGrain)
  for (int64_t c = 0; c < C; ++c) {
    double s = 0.0, sx = 0.0;
    const double m = double(mean[c]) + (mean_lo ? double(mean_lo[c]) : 0.0);
    for (int64_t o = 0; o < outer; ++o) {
      const float* g = dy + (o * C + c) * inner;
      const float* p = x + (o * C + c) * inner;
#pragma omp simd reduction(+ : s, sx)
      for (int64_t i = 0; i < inner; ++i) {
        s += g[i];
        sx += g[i] * (p[i] - m);
      }
    }
    sum_dy[c] = float(s);
    sum_dy_xhat[c] = float(sx * rstd[c]);
  }
}

void row_grad_sums(const float* dy, const float* x, const float* mean, const float* rstd, int64_t rows, int64_t cols,
                   float* sum_dy, float* sum_dy_xhat, const float* mean_lo) {
  channel_grad_sums(dy, x, mean, rstd, 1, rows, cols, sum_dy, sum_dy_xhat, mean_lo);
}

}  // namespace norma
