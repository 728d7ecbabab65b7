// sum and mean over dims, and sum_to (the backward of broadcasting).
// var, max/min and argmax/argmin live in reduce_extrema.cpp and reduce_var.cpp.
#include "core/ops/reduce.h"

#include "core/autograd.h"
#include "core/kernels/reduce_sum.h"
#include "core/ops/elementwise.h"
#include "core/ops/shape_ops.h"

namespace norma {

// out = sum_{dims} x;  dx = g broadcast back over the reduced dims
Tensor sum(const Tensor& x, const Shape& dims_in, bool keepdim) {
  Shape dims = normalize_dims(dims_in, x.dim(), "sum");
  Tensor out = sum_kernel(x, dims, keepdim);
  return record("sum", out, {x}, [xs = x.shape(), dims](const Tensor& g) -> std::vector<Tensor> {
    return {expand(reshape(g, reduced_shape(xs, dims, true)), xs)};
  });
}

Tensor sum(const Tensor& x) { return sum(x, Shape{}, false); }

// out = sum / n, n = number of elements reduced
Tensor mean(const Tensor& x, const Shape& dims_in, bool keepdim) {
  Shape dims = normalize_dims(dims_in, x.dim(), "mean");
  int64_t n = 1;
  for (int64_t d : dims) n *= x.shape()[d];
  NORMA_CHECK(n > 0, "mean: cannot average over zero elements of shape ", x.shape());
  return mul(sum(x, dims, keepdim), 1.f / float(n));
}

Tensor mean(const Tensor& x) { return mean(x, Shape{}, false); }

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  const int64_t lead = x.dim() - int64_t(shape.size());
  NORMA_CHECK(lead >= 0, "sum_to: cannot sum ", x.shape(), " to the longer shape ", shape);
  Shape dims;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d < lead) {
      dims.push_back(d);
    } else if (shape[d - lead] != x.shape()[d]) {
      NORMA_CHECK(shape[d - lead] == 1, "sum_to: cannot sum ", x.shape(), " to ", shape);
      dims.push_back(d);
    }
  }
  if (dims.empty()) return reshape(x, shape);
  return reshape(sum(x, dims, true), shape);
}

}  // namespace norma
