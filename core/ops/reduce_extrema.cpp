// max/min over all elements, max/min along a dim with indices, argmax/argmin.
//
// NaN propagates as in PyTorch: a NaN anywhere in the reduced elements makes the result NaN
// (and the index that of the first NaN). Indices are float tensors holding exact integers
// (exact up to 2^24 elements along the dim).
#include <omp.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/autograd.h"
#include "core/kernels/broadcast.h"
#include "core/kernels/reduce_sum.h"
#include "core/ops/reduce.h"
#include "core/ops/shape_ops.h"

namespace norma {
namespace {

// Whether v replaces the current best: strictly better (so the first extreme wins), or a NaN
// replacing a number (nothing replaces a NaN: v > NaN is false). Branch-free, to vectorize.
// (ints, not bools: GCC vectorizes the int form.)
template <bool IsMax>
inline int better(float v, float best) {
  return int(IsMax ? v > best : v < best) | (int(v != v) & int(best == best));
}

// The extreme of p[0..n) (NaN if any is NaN), in one vectorized pass: the max/min of the
// numbers (a NaN never wins a comparison) and, on the side, whether a NaN was seen.
template <bool IsMax>
float extreme_of(const float* p, int64_t n) {
  float best = p[0];
  int nan = 0;  // an int, not a bool: GCC vectorizes the | reduction only on ints
  if constexpr (IsMax) {
#pragma omp simd reduction(max : best) reduction(| : nan)
    for (int64_t i = 0; i < n; ++i) {
      best = p[i] > best ? p[i] : best;
      nan |= int(p[i] != p[i]);
    }
  } else {
#pragma omp simd reduction(min : best) reduction(| : nan)
    for (int64_t i = 0; i < n; ++i) {
      best = p[i] < best ? p[i] : best;
      nan |= int(p[i] != p[i]);
    }
  }
  return nan ? std::numeric_limits<float>::quiet_NaN() : best;
}

// ---- Over all elements ---------------------------------------------------------------------

// out = max_i x[i];  dx[i] = g / count where x[i] == out (ties share; NaN: the NaNs share)
template <bool IsMax>
Tensor extreme_all(const Tensor& x_in, const char* name) {
  NORMA_CHECK(x_in.numel() > 0, name, ": cannot reduce an empty tensor of shape ", x_in.shape());
  Tensor x = x_in.detach().contiguous();
  const float* p = x.data();
  const int64_t n = x.numel();
  // Each thread takes one contiguous chunk; the chunk results are combined in order. max/min
  // are exact, so the result does not depend on the thread count.
  std::vector<float> partial;
#pragma omp parallel if (n > kParallelGrain)
  {
    const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
#pragma omp single
    partial.assign(size_t(nt), p[0]);
    const int64_t lo = n * t / nt, hi = n * (t + 1) / nt;
    if (hi > lo) partial[size_t(t)] = extreme_of<IsMax>(p + lo, hi - lo);
  }
  float best = extreme_of<IsMax>(partial.data(), int64_t(partial.size()));
  Tensor out = scalar_tensor(best);
  return record(name, out, {x_in}, [x, best](const Tensor& g) -> std::vector<Tensor> {
    const bool nan = std::isnan(best);
    auto hit = [nan, best](float v) { return nan ? std::isnan(v) : v == best; };
    const float* p = x.data();
    int64_t count = 0;
    for (int64_t i = 0; i < x.numel(); ++i) count += hit(p[i]);
    const float share = g.item() / float(count);
    Tensor dx = empty(x.shape());
    float* d = dx.data();
    for (int64_t i = 0; i < x.numel(); ++i) d[i] = hit(p[i]) ? share : 0.f;
    return {dx};
  });
}

// ---- Along one dim ------------------------------------------------------------------------

// values[o, i] = max_r x[o, r, i], indices[o, i] = the first r reaching it (both keepdim
// shape); not recorded.
template <bool IsMax>
ValuesIndices extreme_dim_kernel(const Tensor& x_in, int64_t dim, const char* name) {
  Shape dims;
  if (x_in.dim() > 0) {
    int64_t d = wrap_dim(dim, x_in.dim(), name);
    NORMA_CHECK(x_in.shape()[size_t(d)] > 0, name, ": cannot reduce dim ", dim,
                " of size 0 (shape ", x_in.shape(), ")");
    dims.push_back(d);
  } else {
    wrap_dim(dim, 0, name);  // a 0-d tensor accepts dim 0 or -1, as in PyTorch
  }
  ReduceBlock b = reduce_block(x_in, dims);
  const int64_t outer = b.outer, red = b.red, inner = b.inner;
  Shape out_shape = reduced_shape(x_in.shape(), dims, true);
  ValuesIndices vi{empty(out_shape), empty(out_shape)};
  const float* src = b.x.data();
  float* val = vi.values.data();
  float* idx = vi.indices.data();
#pragma omp parallel for if (outer * red * inner > kParallelGrain) schedule(static)
  for (int64_t o = 0; o < outer; ++o) {
    const float* __restrict base = src + o * red * inner;
    float* __restrict v = val + o * inner;
    float* __restrict k = idx + o * inner;
    if (inner == 1) {
      // A contiguous run: find the extreme (vectorized), then the first index holding it.
      const float best = extreme_of<IsMax>(base, red);
      int64_t r = 0;
      if (best != best)
        while (base[r] == base[r]) ++r;
      else
        while (base[r] != best) ++r;
      v[0] = best, k[0] = float(r);
      continue;
    }
    for (int64_t i = 0; i < inner; ++i) v[i] = base[i], k[i] = 0.f;
    for (int64_t r = 1; r < red; ++r) {
      const float* row = base + r * inner;
      const float rf = float(r);
#pragma omp simd
      for (int64_t i = 0; i < inner; ++i) {
        const float x = row[i], cur = v[i];
        const int take = better<IsMax>(x, cur);
        v[i] = take ? x : cur;
        k[i] = take ? rf : k[i];
      }
    }
  }
  return vi;
}

// values = max along dim;  dx = zeros with dx[o, indices[o, i], i] = g[o, i]
template <bool IsMax>
ValuesIndices extreme_dim(const Tensor& x, int64_t dim, bool keepdim, const char* name) {
  ValuesIndices vi = extreme_dim_kernel<IsMax>(x, dim, name);  // checks dim
  const int64_t d = x.dim() > 0 ? wrap_dim(dim, x.dim(), name) : 0;
  Tensor indices = vi.indices;  // keepdim shape, for the backward
  if (!keepdim && x.dim() > 0) {
    vi.values = squeeze(vi.values, d);
    vi.indices = squeeze(vi.indices, d);
  }
  vi.values = record(name, vi.values, {x}, [xs = x.shape(), d, indices](const Tensor& g) -> std::vector<Tensor> {
    Tensor dx = zeros(xs);
    if (dx.numel() == 0) return {dx};
    int64_t outer = 1, red = xs.empty() ? 1 : xs[size_t(d)], inner = 1;
    for (int64_t j = 0; j < d; ++j) outer *= xs[size_t(j)];
    for (int64_t j = d + 1; j < int64_t(xs.size()); ++j) inner *= xs[size_t(j)];
    Tensor gc = g.contiguous();
    const float* gp = gc.data();
    const float* ip = indices.data();
    float* dp = dx.data();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i)
        dp[(o * red + int64_t(ip[o * inner + i])) * inner + i] = gp[o * inner + i];
    return {dx};
  });
  return vi;
}

}  // namespace

Tensor max(const Tensor& x) { return extreme_all<true>(x, "max"); }
Tensor min(const Tensor& x) { return extreme_all<false>(x, "min"); }

ValuesIndices max(const Tensor& x, int64_t dim, bool keepdim) { return extreme_dim<true>(x, dim, keepdim, "max"); }
ValuesIndices min(const Tensor& x, int64_t dim, bool keepdim) { return extreme_dim<false>(x, dim, keepdim, "min"); }

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  NoGradGuard ng;  // indices only: nothing to record
  return extreme_dim<true>(x, dim, keepdim, "argmax").indices;
}
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim) {
  NoGradGuard ng;
  return extreme_dim<false>(x, dim, keepdim, "argmin").indices;
}

}  // namespace norma
