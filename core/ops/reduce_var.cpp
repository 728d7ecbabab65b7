// var over dims: one fused kernel computes the mean and the sum of squared deviations.
//
// Two passes in double over each reduced block, so an input with a large common offset
// (x = 1e4 + noise of variance 1e-2) keeps its digits: the naive E[x^2] - E[x]^2 in float
// would cancel them all away.
//
// n - correction <= 0 (unbiased with one element, or no elements at all): like PyTorch, the
// divisor is max(0, n - correction) and the result is nan (0 / 0); the gradient is nan too.
#include <algorithm>
#include <vector>

#include "core/autograd.h"
#include "core/kernels/broadcast.h"
#include "core/kernels/reduce_sum.h"
#include "core/ops/reduce.h"
#include "core/ops/shape_ops.h"

namespace norma {
namespace {

struct MeanVar {
  Tensor mean;  // keepdim shape, for the backward
  Tensor var;   // keepdim shape
};

// mean[o, i] = 1/n sum_r x[o, r, i]
// var[o, i]  = 1/max(0, n - correction) sum_r (x[o, r, i] - mean[o, i])^2
MeanVar mean_var_kernel(const Tensor& x_in, const Shape& dims, int64_t correction) {
  Shape out_shape = reduced_shape(x_in.shape(), dims, true);
  ReduceBlock b = reduce_block(x_in, dims);
  const int64_t outer = b.outer, red = b.red, inner = b.inner;
  const double n = double(red), divisor = double(std::max<int64_t>(0, red - correction));
  MeanVar mv{empty(out_shape), empty(out_shape)};
  const float* src = b.x.data();
  float* mean_out = mv.mean.data();
  float* var_out = mv.var.data();
#pragma omp parallel if (outer * red * inner > kParallelGrain)
  {
    std::vector<double> mean(static_cast<size_t>(inner)), m2(static_cast<size_t>(inner));  // per thread, reused over o
#pragma omp for schedule(static)
    for (int64_t o = 0; o < outer; ++o) {
      const float* base = src + o * red * inner;
      if (inner == 1) {  // a contiguous run (e.g. the last dim): two vectorized passes
        double sum = 0.0, sq = 0.0;
#pragma omp simd reduction(+ : sum)
        for (int64_t r = 0; r < red; ++r) sum += base[r];
        const double m = sum / n;
#pragma omp simd reduction(+ : sq)
        for (int64_t r = 0; r < red; ++r) sq += (base[r] - m) * (base[r] - m);
        mean_out[o] = float(m);
        var_out[o] = float(sq / divisor);
        continue;
      }
      // pass 1: the mean
      std::fill(mean.begin(), mean.end(), 0.0);
      for (int64_t r = 0; r < red; ++r)
        for (int64_t i = 0; i < inner; ++i) mean[size_t(i)] += base[r * inner + i];
      for (int64_t i = 0; i < inner; ++i) mean[size_t(i)] /= n;
      // pass 2: squared deviations from it
      std::fill(m2.begin(), m2.end(), 0.0);
      for (int64_t r = 0; r < red; ++r)
        for (int64_t i = 0; i < inner; ++i) {
          double dev = double(base[r * inner + i]) - mean[size_t(i)];
          m2[size_t(i)] += dev * dev;
        }
      for (int64_t i = 0; i < inner; ++i) {
        mean_out[o * inner + i] = float(mean[size_t(i)]);
        var_out[o * inner + i] = float(m2[size_t(i)] / divisor);
      }
    }
  }
  return mv;
}

}  // namespace

// out = sum_{dims} (x - mean)^2 / (n - correction);  dx = g * 2 (x - mean) / (n - correction)
// (the gradient through mean vanishes: sum of (x - mean) over the block is zero)
Tensor var(const Tensor& x, const Shape& dims_in, bool unbiased, bool keepdim) {
  Shape dims = normalize_dims(dims_in, x.dim(), "var");
  const int64_t correction = unbiased ? 1 : 0;
  int64_t n = 1;
  for (int64_t d : dims) n *= x.shape()[size_t(d)];
  MeanVar mv = mean_var_kernel(x, dims, correction);
  Tensor out = keepdim ? mv.var : reshape(mv.var, reduced_shape(x.shape(), dims, false));
  Tensor mean = mv.mean;
  return record("var", out, {x}, [x, mean, n, correction](const Tensor& g) -> std::vector<Tensor> {
    const float scale = 2.f / float(n - correction);  // inf when n - correction == 0, as PyTorch
    Tensor gk = reshape(g, mean.shape());              // keepdim shape: broadcasts against x
    return {map_broadcast<3>(x.shape(), {&gk, &x, &mean},
                             [scale](float g, float x, float m) { return g * scale * (x - m); })};
  });
}

Tensor var(const Tensor& x, bool unbiased) { return var(x, Shape{}, unbiased, false); }

}  // namespace norma
