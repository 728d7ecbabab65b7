// Shapes and strides: plain vectors of int64_t, with the helpers every op needs.
#pragma once
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace norma {

using Shape = std::vector<int64_t>;

// Number of elements of a shape (1 for the empty shape: a scalar).
int64_t shape_numel(const Shape& shape);
// Row-major strides of a contiguous tensor of this shape.
Shape contiguous_strides(const Shape& shape);
// "[2, 3, 4]"
std::string shape_str(const Shape& shape);
// Wraps a possibly negative dim into [0, ndim); `op` names the caller in the error.
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);
// NumPy broadcasting of two shapes; throws naming `op` and both shapes when incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

}  // namespace norma

namespace std {
// Lets NORMA_CHECK messages stream shapes directly: "[3, 4]".
inline ostream& operator<<(ostream& os, const vector<int64_t>& shape) { return os << norma::shape_str(shape); }
}  // namespace std
