#include "core/kernels/norm_stats.h"

#include <algorithm>
#include <cstddef>
#include <vector>

namespace norma {
namespace {
constexpr int64_t kGrain = 32768;  // elements below which loops stay on one thread
constexpr int64_t kCols = 64;      // channels per task when inner == 1

// inner == 1 ([N, C] input, BatchNorm1d): channel c's values are a column, so the per-channel
// loops below would read with stride C one value at a time. Instead sweep the rows and update
// a block of kCols channels at once (vectorized over c). Each channel still adds its values in
// row order, so the sums are the same bits as the per-channel loops'.
template <typename F>
void for_column_blocks(int64_t outer, int64_t C, F body) {
#pragma omp parallel for schedule(static) if (outer * C > kGrain)
  for (int64_t c0 = 0; c0 < C; c0 += kCols) body(c0, std::min(C, c0 + kCols));
}

// out[c] = sum over rows o of term(x[o, c], c), for x [outer, C] (inner == 1).
template <typename Term>
void column_sums(const float* x, int64_t outer, int64_t C, double* out, Term term) {
  for_column_blocks(outer, C, [&](int64_t c0, int64_t c1) {
    std::fill(out + c0, out + c1, 0.0);
    for (int64_t o = 0; o < outer; ++o) {
      const float* p = x + o * C;
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) out[c] += term(p[c], c);
    }
  });
}
}  // namespace

void channel_sums(const float* x, int64_t outer, int64_t C, int64_t inner, double* sum) {
  if (inner == 1) {
    column_sums(x, outer, C, sum, [](float v, int64_t) { return double(v); });
    return;
  }
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
  if (inner == 1) {
    column_sums(x, outer, C, sq, [mean](float v, int64_t c) { return (v - mean[c]) * (v - mean[c]); });
    return;
  }
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

void row_stats(const float* xr, int64_t cols, float& mean, float& var, float& mean_lo) {
  double s = 0.0;
#pragma omp simd reduction(+ : s)
  for (int64_t j = 0; j < cols; ++j) s += xr[j];
  const double m = cols > 0 ? s / double(cols) : 0.0;
  double ss = 0.0;
#pragma omp simd reduction(+ : ss)
  for (int64_t j = 0; j < cols; ++j) ss += (xr[j] - m) * (xr[j] - m);
  split_mean(m, mean, mean_lo);
  var = cols > 0 ? float(ss / double(cols)) : 0.f;
}

void row_mean_var(const float* x, int64_t rows, int64_t cols, float* mean, float* var, float* mean_lo) {
  // Row by row, both passes over a row while it is in cache (one sweep of memory, not two).
#pragma omp parallel for schedule(static) if (rows * cols > kGrain)
  for (int64_t r = 0; r < rows; ++r) {
    float lo;
    row_stats(x + r * cols, cols, mean[r], var[r], lo);
    if (mean_lo) mean_lo[r] = lo;
  }
}

void channel_grad_sums(const float* dy, const float* x, const float* mean, const float* rstd, int64_t outer, int64_t C,
                       int64_t inner, float* sum_dy, float* sum_dy_xhat, const float* mean_lo) {
  if (inner == 1) {
    for_column_blocks(outer, C, [&](int64_t c0, int64_t c1) {
      double s[kCols] = {}, sx[kCols] = {}, m[kCols];
      for (int64_t c = c0; c < c1; ++c) m[c - c0] = double(mean[c]) + (mean_lo ? double(mean_lo[c]) : 0.0);
      for (int64_t o = 0; o < outer; ++o) {
        const float *g = dy + o * C + c0, *p = x + o * C + c0;
#pragma omp simd
        for (int64_t j = 0; j < c1 - c0; ++j) {
          s[j] += g[j];
          sx[j] += g[j] * (p[j] - m[j]);
        }
      }
      for (int64_t c = c0; c < c1; ++c) sum_dy[c] = float(s[c - c0]), sum_dy_xhat[c] = float(sx[c - c0] * rstd[c]);
    });
    return;
  }
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

void row_grad_sums_one(const float* dy, const float* xr, int64_t cols, float mean, float mean_lo, float rstd,
                       float& sum_dy, float& sum_dy_xhat) {
  double s = 0.0, sx = 0.0;
  const double m = double(mean) + double(mean_lo);
#pragma omp simd reduction(+ : s, sx)
  for (int64_t i = 0; i < cols; ++i) {
    s += dy[i];
    sx += dy[i] * (xr[i] - m);
  }
  sum_dy = float(s);
  sum_dy_xhat = float(sx * rstd);
}

void row_grad_sums(const float* dy, const float* x, const float* mean, const float* rstd, int64_t rows, int64_t cols,
                   float* sum_dy, float* sum_dy_xhat, const float* mean_lo) {
  channel_grad_sums(dy, x, mean, rstd, 1, rows, cols, sum_dy, sum_dy_xhat, mean_lo);
}

}  // namespace norma
