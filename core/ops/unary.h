// Elementwise unary ops (activations and math functions), each with its derivative.
#pragma once
#include "core/tensor.h"

namespace norma {

Tensor neg(const Tensor& x);
Tensor abs(const Tensor& x);          // d/dx = sign(x), 0 at 0
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);        // 1 / sqrt(x)
Tensor square(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor relu(const Tensor& x);         // d/dx = 1 where x > 0
Tensor leaky_relu(const Tensor& x, float negative_slope = 0.01f);
Tensor gelu(const Tensor& x);         // exact: x * Phi(x), as PyTorch's default
Tensor clamp(const Tensor& x, float min, float max);  // gradient passes where min <= x <= max

inline Tensor operator-(const Tensor& x) { return neg(x); }

}  // namespace norma
