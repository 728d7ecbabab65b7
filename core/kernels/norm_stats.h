// Statistics loops shared by the normalization layers (no autograd here).
//
// Two layouts cover every norm:
//   channel form: x viewed as [outer, C, inner], one statistic per channel c over (outer, inner)
//                 BatchNorm (N, C, H*W), GhostBatchNorm per chunk, SyncBatchNorm per rank;
//   row form:     x viewed as [rows, cols], one statistic per row over its cols
//                 LayerNorm (N, D), GroupNorm (N*G, C/G*H*W), InstanceNorm (N*C, H*W), RMSNorm.
// Sums run in double and the variance is two-pass (mean first, then squared deviations), so
// inputs with a large common offset (x + 1e4, variance 1e-2) keep their variance.
#pragma once
#include <cstdint>

namespace norma {

// mean[c] = 1/M sum_{o,i} x[o,c,i];  var[c] = 1/M sum_{o,i} (x[o,c,i] - mean[c])^2;  M = outer*inner
void channel_mean_var(const float* x, int64_t outer, int64_t C, int64_t inner, float* mean, float* var);

// mean[r] = 1/cols sum_j x[r,j];  var[r] = 1/cols sum_j (x[r,j] - mean[r])^2
void row_mean_var(const float* x, int64_t rows, int64_t cols, float* mean, float* var);

// The two sums every norm backward needs, per channel:
//   sum_dy[c] = sum_{o,i} dy[o,c,i];  sum_dy_xhat[c] = sum_{o,i} dy[o,c,i] * (x[o,c,i] - mean[c]) * rstd[c]
void channel_grad_sums(const float* dy, const float* x, const float* mean, const float* rstd, int64_t outer, int64_t C,
                       int64_t inner, float* sum_dy, float* sum_dy_xhat);

// The same per row: sum_dy[r] = sum_j dy[r,j];  sum_dy_xhat[r] = sum_j dy[r,j] * (x[r,j] - mean[r]) * rstd[r]
void row_grad_sums(const float* dy, const float* x, const float* mean, const float* rstd, int64_t rows, int64_t cols,
                   float* sum_dy, float* sum_dy_xhat);

}  // namespace norma
