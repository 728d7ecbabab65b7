// Shape ops: views that share the buffer where possible, copies where not.
#pragma once
#include <vector>

#include "core/tensor.h"

namespace norma {

// One dim may be -1 (inferred). A view when x is contiguous, else a copy.
Tensor reshape(const Tensor& x, const Shape& shape);
// Like reshape but never copies: x must be contiguous.
Tensor view(const Tensor& x, const Shape& shape);
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor permute(const Tensor& x, const Shape& dims);
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1);
Tensor squeeze(const Tensor& x);               // drops every dim of size 1
Tensor squeeze(const Tensor& x, int64_t dim);  // drops dim if its size is 1
Tensor unsqueeze(const Tensor& x, int64_t dim);
// Broadcasts x to `shape` without copying (stride 0 on stretched dims).
Tensor expand(const Tensor& x, const Shape& shape);
// Elements start, start+step, ... below end along dim (negative start/end count from the end,
// both clamped to the size, like Python slicing). A view.
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
// The entries of `indices` along dim, in that order (repeats allowed). A copy.
Tensor index_select(const Tensor& x, int64_t dim, const std::vector<int64_t>& indices);
// Joins tensors along dim; all other dims must agree.
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
inline Tensor concat(const std::vector<Tensor>& tensors, int64_t dim = 0) { return cat(tensors, dim); }
// Constant padding as torch.nn.functional.pad: `pads` = (left, right) for the last dim, then
// (left, right) for the one before, and so on; negative pads crop.
Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, float value = 0.f);

}  // namespace norma
