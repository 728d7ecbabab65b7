// Summation kernel shared by sum, mean and sum_to.
#pragma once
#include "core/tensor.h"

namespace norma {

// Sorted, de-duplicated, wrapped dims; an empty list means every dim.
Shape normalize_dims(const Shape& dims, int64_t ndim, const char* op);
// Sum of x over `dims` (already normalized) with keepdim semantics; not recorded.
// Accumulates in double.
Tensor sum_kernel(const Tensor& x, const Shape& dims, bool keepdim);
// The shape x.sum(dims, keepdim) has.
Shape reduced_shape(const Shape& shape, const Shape& dims, bool keepdim);

// x (detached) laid out for a reduction over `dims` (normalized) as a contiguous block
// [outer, red, inner]: the reduced dims form the middle, so x[o, r, i] = data[(o*red + r)*inner + i]
// and the outputs, in row-major order of the kept dims, are [outer, inner]. Copies only when x
// is not contiguous or the reduced dims are not adjacent (then they are moved to the end).
struct ReduceBlock {
  Tensor x;  // contiguous, detached
  int64_t outer = 1, red = 1, inner = 1;
};
ReduceBlock reduce_block(const Tensor& x, const Shape& dims);

}  // namespace norma
