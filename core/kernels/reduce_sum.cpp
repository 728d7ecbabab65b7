#include "core/kernels/reduce_sum.h"

#include <algorithm>
#include <vector>

#include "core/ops/shape_ops.h"

namespace norma {

Shape normalize_dims(const Shape& dims, int64_t ndim, const char* op) {
  Shape out;
  if (dims.empty()) {
    for (int64_t d = 0; d < ndim; ++d) out.push_back(d);
    return out;
  }
  for (int64_t d : dims) out.push_back(wrap_dim(d, ndim, op));
  std::sort(out.begin(), out.end());
  NORMA_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), op, ": dim repeated in ", dims);
  return out;
}

Shape reduced_shape(const Shape& shape, const Shape& dims, bool keepdim) {
  Shape out;
  for (int64_t d = 0; d < int64_t(shape.size()); ++d) {
    bool reduced = std::find(dims.begin(), dims.end(), d) != dims.end();
    if (!reduced) out.push_back(shape[d]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}

ReduceBlock reduce_block(const Tensor& x_in, const Shape& dims) {
  // The reduced dims must form one block [first, last]: out[o, i] = sum_r x[o, r, i].
  // Otherwise move them to the end first (one copy).
  Tensor x = x_in.detach();
  Shape block = dims;
  bool consecutive = dims.empty() || dims.back() - dims.front() + 1 == int64_t(dims.size());
  if (!consecutive) {
    Shape order;
    for (int64_t d = 0; d < x.dim(); ++d)
      if (std::find(dims.begin(), dims.end(), d) == dims.end()) order.push_back(d);
    int64_t kept = int64_t(order.size());
    for (int64_t d : dims) order.push_back(d);
    x = permute(x, order);
    block.clear();
    for (int64_t d = kept; d < x.dim(); ++d) block.push_back(d);
  }
  ReduceBlock b;
  b.x = x.contiguous();
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (!block.empty() && d < block.front()) b.outer *= x.shape()[d];
    else if (!block.empty() && d <= block.back()) b.red *= x.shape()[d];
    else b.inner *= x.shape()[d];
  }
  if (block.empty()) b.outer = 1, b.inner = x.numel();  // no dims reduced: a copy
  return b;
}

Tensor sum_kernel(const Tensor& x_in, const Shape& dims, bool keepdim) {
  Shape out_shape = reduced_shape(x_in.shape(), dims, keepdim);
  ReduceBlock b = reduce_block(x_in, dims);
  const Tensor& x = b.x;
  const int64_t outer = b.outer, red = b.red, inner = b.inner;
  Tensor out = empty(out_shape);
  const float* src = x.data();
  float* dst = out.data();
#pragma omp parallel if (outer * red * inner > 32768)
  {
    std::vector<double> acc(static_cast<size_t>(inner));
#pragma omp for schedule(static)
    for (int64_t o = 0; o < outer; ++o) {
      std::fill(acc.begin(), acc.end(), 0.0);
      const float* base = src + o * red * inner;
      if (inner == 1) {
        double s = 0.0;
#pragma omp simd reduction(+ : s)
        for (int64_t r = 0; r < red; ++r) s += base[r];
        acc[0] = s;
      } else {
        for (int64_t r = 0; r < red; ++r)
          for (int64_t i = 0; i < inner; ++i) acc[size_t(i)] += base[r * inner + i];
      }
      for (int64_t i = 0; i < inner; ++i) dst[o * inner + i] = float(acc[size_t(i)]);
    }
  }
  return out;
}

}  // namespace norma
