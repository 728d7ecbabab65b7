// Views: ops that only change shape/strides/offset and share the buffer. Each backward
// undoes the view on the gradient. (index_select, cat and pad copy: shape_copy.cpp.)
#include "core/ops/shape_ops.h"

#include <algorithm>

#include "core/autograd.h"
#include "core/ops/reduce.h"

namespace norma {
namespace {
Tensor make_view(const Tensor& x, Shape shape, Shape strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = x.impl().storage;
  impl->offset = offset;
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  return Tensor(impl);
}

Shape infer_shape(const Shape& requested, int64_t numel, const Shape& from, const char* op) {
  Shape shape = requested;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      NORMA_CHECK(infer < 0, op, ": only one dim can be -1 in ", requested);
      infer = int64_t(i);
    } else {
      NORMA_CHECK(shape[i] >= 0, op, ": invalid size in ", requested);
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    NORMA_CHECK(known > 0 && numel % known == 0, op, ": cannot reshape ", from, " to ", requested);
    shape[size_t(infer)] = numel / known;
  }
  NORMA_CHECK(shape_numel(shape) == numel, op, ": cannot reshape ", from, " (", numel, " elements) to ",
              requested);
  return shape;
}

// Backward of a view that keeps the element count: reshape the gradient back.
BackwardFn reshape_back(const Shape& in_shape) {
  return [in_shape](const Tensor& g) -> std::vector<Tensor> { return {reshape(g, in_shape)}; };
}

// A row-major view of contiguous x with a new shape; `op` names the caller in errors.
Tensor contiguous_view(const Tensor& x, const Shape& shape_in, const char* op) {
  Shape shape = infer_shape(shape_in, x.numel(), x.shape(), op);
  Tensor out = make_view(x, shape, contiguous_strides(shape), x.impl().offset);
  return record(op, out, {x}, reshape_back(x.shape()));
}
}  // namespace

Tensor view(const Tensor& x, const Shape& shape) {
  NORMA_CHECK(x.is_contiguous(), "view: tensor of shape ", x.shape(), " with strides ", x.strides(),
              " is not contiguous (use reshape)");
  return contiguous_view(x, shape, "view");
}

Tensor reshape(const Tensor& x, const Shape& shape) {
  if (x.is_contiguous()) return contiguous_view(x, shape, "reshape");
  infer_shape(shape, x.numel(), x.shape(), "reshape");  // fail before copying
  return contiguous_view(x.contiguous(), shape, "reshape");
}

Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
  if (x.dim() == 0) return reshape(x, {1});
  int64_t s = wrap_dim(start_dim, x.dim(), "flatten"), e = wrap_dim(end_dim, x.dim(), "flatten");
  NORMA_CHECK(s <= e, "flatten: start_dim ", start_dim, " comes after end_dim ", end_dim);
  Shape shape(x.shape().begin(), x.shape().begin() + s);
  int64_t n = 1;
  for (int64_t d = s; d <= e; ++d) n *= x.shape()[d];
  shape.push_back(n);
  shape.insert(shape.end(), x.shape().begin() + e + 1, x.shape().end());
  return reshape(x, shape);
}

// out[i_perm] = x[i];  dx = g permuted by the inverse permutation
Tensor permute(const Tensor& x, const Shape& dims) {
  NORMA_CHECK(int64_t(dims.size()) == x.dim(), "permute: ", dims, " does not list the ", x.dim(),
              " dims of a tensor of shape ", x.shape());
  Shape shape(dims.size()), strides(dims.size()), inverse(dims.size(), -1);
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t d = wrap_dim(dims[i], x.dim(), "permute");
    NORMA_CHECK(inverse[size_t(d)] < 0, "permute: dim ", d, " repeated in ", dims);
    inverse[size_t(d)] = int64_t(i);
    shape[i] = x.shape()[size_t(d)];
    strides[i] = x.strides()[size_t(d)];
  }
  Tensor out = make_view(x, shape, strides, x.impl().offset);
  return record("permute", out, {x}, [inverse](const Tensor& g) -> std::vector<Tensor> {
    return {permute(g, inverse)};
  });
}

Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1) {
  if (x.dim() == 0) {  // PyTorch allows dims 0 and -1 here: nothing to swap
    wrap_dim(dim0, 0, "transpose");
    wrap_dim(dim1, 0, "transpose");
    return x;
  }
  Shape dims(size_t(x.dim()));
  for (int64_t d = 0; d < x.dim(); ++d) dims[size_t(d)] = d;
  std::swap(dims[size_t(wrap_dim(dim0, x.dim(), "transpose"))], dims[size_t(wrap_dim(dim1, x.dim(), "transpose"))]);
  return permute(x, dims);
}

Tensor squeeze(const Tensor& x) {
  Shape shape, strides;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (x.shape()[d] != 1) shape.push_back(x.shape()[d]), strides.push_back(x.strides()[d]);
  Tensor out = make_view(x, shape, strides, x.impl().offset);
  return record("squeeze", out, {x}, reshape_back(x.shape()));
}

Tensor squeeze(const Tensor& x, int64_t dim) {
  int64_t d = wrap_dim(dim, x.dim(), "squeeze");
  if (x.dim() == 0) return x;
  if (x.shape()[d] != 1) return x;
  Shape shape = x.shape(), strides = x.strides();
  shape.erase(shape.begin() + d);
  strides.erase(strides.begin() + d);
  Tensor out = make_view(x, shape, strides, x.impl().offset);
  return record("squeeze", out, {x}, reshape_back(x.shape()));
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  int64_t d = wrap_dim(dim, x.dim() + 1, "unsqueeze");
  Shape shape = x.shape(), strides = x.strides();
  int64_t stride = d < x.dim() ? x.strides()[d] * x.shape()[d] : 1;
  shape.insert(shape.begin() + d, 1);
  strides.insert(strides.begin() + d, stride);
  Tensor out = make_view(x, shape, strides, x.impl().offset);
  return record("unsqueeze", out, {x}, reshape_back(x.shape()));
}

// out = x broadcast to shape;  dx = sum of g over the stretched dims
Tensor expand(const Tensor& x, const Shape& shape) {
  NORMA_CHECK(int64_t(shape.size()) >= x.dim(), "expand: cannot expand ", x.shape(), " to fewer dims ", shape);
  const size_t lead = shape.size() - size_t(x.dim());
  Shape out_shape = shape, strides(shape.size(), 0);
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i < lead) {
      NORMA_CHECK(shape[i] >= 0, "expand: new leading dim must be sized in ", shape);
      continue;
    }
    int64_t have = x.shape()[i - lead];
    if (shape[i] == -1) out_shape[i] = have;
    NORMA_CHECK(have == out_shape[i] || (have == 1 && out_shape[i] >= 0), "expand: cannot expand ", x.shape(),
                " to ", shape);
    strides[i] = have == out_shape[i] ? x.strides()[i - lead] : 0;
  }
  if (out_shape == x.shape()) return x;
  Tensor out = make_view(x, out_shape, strides, x.impl().offset);
  return record("expand", out, {x}, [xs = x.shape()](const Tensor& g) -> std::vector<Tensor> {
    return {sum_to(g, xs)};
  });
}

// out = x[start:end:step] along dim;  dx = zeros with g written into that slice
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
  NORMA_CHECK(x.dim() > 0, "slice: cannot slice a 0-d tensor");
  int64_t d = wrap_dim(dim, x.dim(), "slice");
  NORMA_CHECK(step > 0, "slice: step must be positive, got ", step);
  const int64_t n = x.shape()[d];
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape shape = x.shape(), strides = x.strides();
  shape[d] = (end - start + step - 1) / step;
  strides[d] *= step;
  Tensor out = make_view(x, shape, strides, x.impl().offset + start * x.strides()[d]);
  return record("slice", out, {x}, [xs = x.shape(), d, start, end, step](const Tensor& g) -> std::vector<Tensor> {
    Tensor dx = zeros(xs);
    slice(dx, d, start, end, step).copy_(g);
    return {dx};
  });
}

}  // namespace norma
