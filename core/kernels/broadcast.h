// The loop behind every elementwise op: out[i] = f(in_0[i'], in_1[i'], ...) where each input
// is broadcast to the output shape (stride 0 on its stretched dims).
//
// Same-shape contiguous inputs take a flat loop (vectorized); otherwise the output is walked
// row by row (the last dim), each input with its own strides. Rows are split over OpenMP
// threads when there is enough work.
#pragma once
#include <array>
#include <tuple>

#include "core/tensor.h"

namespace norma {

// Strides that read `t` as if it had shape `out` (0 on broadcast dims).
Shape broadcast_strides(const Tensor& t, const Shape& out);

constexpr int64_t kParallelGrain = 32768;  // elements below which a loop stays on one thread

template <size_t K, typename F>
Tensor map_broadcast(const Shape& out_shape, const std::array<const Tensor*, K>& ins, F f) {
  Tensor out = empty(out_shape);
  float* o = out.data();
  const int64_t n = out.numel();
  std::array<const float*, K> p;
  bool flat = true;
  for (size_t k = 0; k < K; ++k) {
    p[k] = ins[k]->data();
    flat = flat && ins[k]->shape() == out_shape && ins[k]->is_contiguous();
  }
  if (flat) {
    // One and two inputs (nearly every op) read through local restrict pointers: with the
    // pointer array the compiler reloaded p[k] every iteration, and for a select such as
    // relu's backward gave up on plain vector loads (5x slower than a multiply).
    float* __restrict dst = o;
    if constexpr (K == 1) {
      const float* __restrict a = p[0];
#pragma omp parallel for simd if (n > kParallelGrain) schedule(static)
      for (int64_t i = 0; i < n; ++i) dst[i] = f(a[i]);
      return out;
    } else if constexpr (K == 2) {
      const float* __restrict a = p[0];
      const float* __restrict b = p[1];
#pragma omp parallel for simd if (n > kParallelGrain) schedule(static)
      for (int64_t i = 0; i < n; ++i) dst[i] = f(a[i], b[i]);
      return out;
    }
#pragma omp parallel for simd if (n > kParallelGrain) schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      std::array<float, K> v;
      for (size_t k = 0; k < K; ++k) v[k] = p[k][i];
      o[i] = std::apply(f, v);
    }
    return out;
  }
  if (n == 0) return out;
  const int64_t nd = int64_t(out_shape.size());
  std::array<Shape, K> st;
  for (size_t k = 0; k < K; ++k) st[k] = broadcast_strides(*ins[k], out_shape);
  const int64_t inner = nd ? out_shape[nd - 1] : 1, rows = n / inner;
#pragma omp parallel for if (n > kParallelGrain) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    // Offsets of row r in each input: decompose r over the outer dims.
    std::array<int64_t, K> off{};
    int64_t rem = r;
    for (int64_t d = nd - 2; d >= 0; --d) {
      int64_t i = rem % out_shape[d];
      rem /= out_shape[d];
      for (size_t k = 0; k < K; ++k) off[k] += i * st[k][d];
    }
    std::array<int64_t, K> s_in;
    for (size_t k = 0; k < K; ++k) s_in[k] = nd ? st[k][nd - 1] : 0;
    float* orow = o + r * inner;
    for (int64_t j = 0; j < inner; ++j) {
      std::array<float, K> v;
      for (size_t k = 0; k < K; ++k) v[k] = p[k][off[k] + j * s_in[k]];
      orow[j] = std::apply(f, v);
    }
  }
  return out;
}

// Shorthands: one input (same shape out), two inputs broadcast together.
template <typename F>
Tensor map_unary(const Tensor& x, F f) {
  return map_broadcast<1>(x.shape(), {&x}, f);
}
template <typename F>
Tensor map_binary(const Tensor& a, const Tensor& b, const char* op, F f) {
  return map_broadcast<2>(broadcast_shapes(a.shape(), b.shape(), op), {&a, &b}, f);
}

}  // namespace norma
