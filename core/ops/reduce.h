// Reductions over any set of dims, with keepdim, as in PyTorch.
#pragma once
#include "core/tensor.h"

namespace norma {

Tensor sum(const Tensor& x);  // over all elements: a 0-d tensor
Tensor sum(const Tensor& x, const Shape& dims, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const Shape& dims, bool keepdim = false);
// Variance; unbiased divides by n - 1 (PyTorch's default), biased by n. As in PyTorch, the
// result is nan (not an error) when n - 1 <= 0 (unbiased) or n == 0.
Tensor var(const Tensor& x, bool unbiased = true);
Tensor var(const Tensor& x, const Shape& dims, bool unbiased = true, bool keepdim = false);
// Makes var(x, {1}) mean dims {1}: without it the braced int converts to `bool unbiased`.
inline Tensor var(const Tensor& x, std::initializer_list<int64_t> dims, bool unbiased = true, bool keepdim = false) {
  return var(x, Shape(dims), unbiased, keepdim);
}

// Max/min over all elements (differentiable; ties share the gradient equally).
Tensor max(const Tensor& x);
Tensor min(const Tensor& x);
// Max/min along one dim with the index of the first extreme value. values is
// differentiable (the gradient goes to that index); indices holds exact integers as float.
struct ValuesIndices {
  Tensor values;
  Tensor indices;
};
ValuesIndices max(const Tensor& x, int64_t dim, bool keepdim = false);
ValuesIndices min(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim = false);

// Sums x down to `shape` (the inverse of broadcasting `shape` up to x's shape): the
// backward of every broadcasting op. Differentiable.
Tensor sum_to(const Tensor& x, const Shape& shape);

}  // namespace norma
