// Statistics loops shared by the normalization layers (no autograd here).
//
// Two layouts cover every norm:
//   channel form: x viewed as [outer, C, inner], one statistic per channel c over (outer, inner)
//                 BatchNorm (N, C, H*W), GhostBatchNorm per chunk, SyncBatchNorm per rank;
//   row form:     x viewed as [rows, cols], one statistic per row over its cols
//                 LayerNorm (N, D), GroupNorm (N*G, C/G*H*W), InstanceNorm (N*C, H*W), RMSNorm.
// Sums run in double and the variance is two-pass (mean first, then squared deviations), so
// inputs with a large common offset (x + 1e4, variance 1e-2) keep their variance.
//
// The mean is returned as two floats, mean (the float nearest the double mean) and mean_lo
// (the rest, mean_double - mean, rounded to float). x - mean is exact in float when x is
// near mean, so (x - mean) - mean_lo loses nothing to the mean's rounding: with an offset of
// 1e4 the float mean alone is off by up to 4.9e-4 (half an ulp), which is 5e-3 of a standard
// deviation 0.1 in every normalized value.
#pragma once
#include <cstdint>

namespace norma {

// The two passes, for callers that combine partial sums (SyncBatchNorm all-reduces them over
// the ranks between the passes). channel_mean_var is exactly these two with M = outer*inner:
//   sum[c] = sum_{o,i} x[o,c,i]                                        (double)
//   sq[c]  = sum_{o,i} (x[o,c,i] - mean[c])^2   with a double mean     (double)
void channel_sums(const float* x, int64_t outer, int64_t C, int64_t inner, double* sum);
void channel_sq_dev(const float* x, int64_t outer, int64_t C, int64_t inner, const double* mean, double* sq);
// mean_hi = float(mean); mean_lo = float(mean - mean_hi)
inline void split_mean(double mean, float& mean_hi, float& mean_lo) {
  mean_hi = float(mean);
  mean_lo = float(mean - double(mean_hi));
}

// mean[c] = 1/M sum_{o,i} x[o,c,i];  var[c] = 1/M sum_{o,i} (x[o,c,i] - mean[c])^2;  M = outer*inner
// mean_lo (may be null): the double mean's remainder, see above.
void channel_mean_var(const float* x, int64_t outer, int64_t C, int64_t inner, float* mean, float* var,
                      float* mean_lo = nullptr);

// mean[r] = 1/cols sum_j x[r,j];  var[r] = 1/cols sum_j (x[r,j] - mean[r])^2
void row_mean_var(const float* x, int64_t rows, int64_t cols, float* mean, float* var, float* mean_lo = nullptr);
// The same for one row xr[0 .. cols), for a norm that normalizes each row right after its
// statistics, while the row is still in cache (LayerNorm, GroupNorm).
void row_stats(const float* xr, int64_t cols, float& mean, float& var, float& mean_lo);

// The two sums every norm backward needs, per channel:
//   sum_dy[c] = sum_{o,i} dy[o,c,i];  sum_dy_xhat[c] = sum_{o,i} dy[o,c,i] * (x[o,c,i] - mean[c]) * rstd[c]
// with mean[c] + mean_lo[c] for the mean when mean_lo is given.
void channel_grad_sums(const float* dy, const float* x, const float* mean, const float* rstd, int64_t outer, int64_t C,
                       int64_t inner, float* sum_dy, float* sum_dy_xhat, const float* mean_lo = nullptr);

// The same per row: sum_dy[r] = sum_j dy[r,j];  sum_dy_xhat[r] = sum_j dy[r,j] * (x[r,j] - mean[r]) * rstd[r]
void row_grad_sums(const float* dy, const float* x, const float* mean, const float* rstd, int64_t rows, int64_t cols,
                   float* sum_dy, float* sum_dy_xhat, const float* mean_lo = nullptr);
// The same for one row (mean_lo may be 0), for a norm that goes on with that row's dx while
// it is in cache (GroupNorm).
void row_grad_sums_one(const float* dy, const float* xr, int64_t cols, float mean, float mean_lo, float rstd,
                       float& sum_dy, float& sum_dy_xhat);

}  // namespace norma
