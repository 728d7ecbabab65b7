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

}  // namespace norma
