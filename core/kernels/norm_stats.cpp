#include "core/kernels/norm_stats.h"

namespace norma {
namespace {
constexpr int64_t kGrain = 32768;  // elements below which loops stay on one thread
}

void channel_mean_var(const float* x, int64_t outer, int64_t C, int64_t inner, float* mean, float* var) {
  const int64_t M = outer * inner;
#pragma omp parallel for schedule(static) if (outer * C * inner > kGrain)
  for (int64_t c = 0; c < C; ++c) {
    double s = 0.0;
    for (int64_t o = 0; o < outer; ++o) {
      const float* p = x + (o * C + c) * inner;
#pragma omp simd reduction(+ : s)
      for (int64_t i = 0; i < inner; ++i) s += p[i];
    }
    const double m = M > 0 ? s / double(M) : 0.0;
    double ss = 0.0;
    for (int64_t o = 0; o < outer; ++o) {
      const float* p = x + (o * C + c) * inner;
#pragma omp simd reduction(+ : ss)
      for (int64_t i = 0; i < inner; ++i) ss += (p[i] - m) * (p[i] - m);
    }
    mean[c] = float(m);
    var[c] = M > 0 ? float(ss / double(M)) : 0.f;
  }
}

void row_mean_var(const float* x, int64_t rows, int64_t cols, float* mean, float* var) {
  channel_mean_var(x, 1, rows, cols, mean, var);
}

void channel_grad_sums(const float* dy, const float* x, const float* mean, const float* rstd, int64_t outer, int64_t C,
                       int64_t inner, float* sum_dy, float* sum_dy_xhat) {
#pragma omp parallel for schedule(static) if (outer * C * inner > kGrain)
  for (int64_t c = 0; c < C; ++c) {
    double s = 0.0, sx = 0.0;
    const double m = mean[c];
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
                   float* sum_dy, float* sum_dy_xhat) {
  channel_grad_sums(dy, x, mean, rstd, 1, rows, cols, sum_dy, sum_dy_xhat);
}

}  // namespace norma
