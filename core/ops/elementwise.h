// Elementwise binary ops with NumPy broadcasting, their scalar forms, and comparisons.
//
// Broadcasting: shapes are aligned at the right; a dim of size 1 (or a missing one) is
// stretched to match. The backward of a broadcast input sums the gradient over the
// stretched dims (sum_to in reduce.h).
#pragma once
#include "core/tensor.h"

namespace norma {

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);      // a^b; d/db = a^b log a (a > 0)
Tensor maximum(const Tensor& a, const Tensor& b);  // ties send half the gradient to each
Tensor minimum(const Tensor& a, const Tensor& b);

Tensor add(const Tensor& a, float s);
Tensor sub(const Tensor& a, float s);
Tensor rsub(float s, const Tensor& a);  // s - a
Tensor mul(const Tensor& a, float s);
Tensor div(const Tensor& a, float s);
Tensor rdiv(float s, const Tensor& a);  // s / a
Tensor pow(const Tensor& a, float exponent);

// Comparisons: 1.0 where true, 0.0 where false; not differentiable (never recorded).
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, float s);
Tensor ne(const Tensor& a, float s);
Tensor lt(const Tensor& a, float s);
Tensor le(const Tensor& a, float s);
Tensor gt(const Tensor& a, float s);
Tensor ge(const Tensor& a, float s);

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator+(const Tensor& a, float s) { return add(a, s); }
inline Tensor operator-(const Tensor& a, float s) { return sub(a, s); }
inline Tensor operator*(const Tensor& a, float s) { return mul(a, s); }
inline Tensor operator/(const Tensor& a, float s) { return div(a, s); }
inline Tensor operator+(float s, const Tensor& a) { return add(a, s); }
inline Tensor operator-(float s, const Tensor& a) { return rsub(s, a); }
inline Tensor operator*(float s, const Tensor& a) { return mul(a, s); }
inline Tensor operator/(float s, const Tensor& a) { return rdiv(s, a); }

}  // namespace norma
