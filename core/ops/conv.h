// 2-d convolution (cross-correlation, as in PyTorch) through im2col + sgemm.
#pragma once
#include "core/tensor.h"

namespace norma {

// A pair of ints that also accepts one int for both: conv2d(x, w, b, 2) or {2, 1}.
struct IntPair {
  int64_t h, w;
  IntPair(int64_t v) : h(v), w(v) {}  // NOLINT: implicit on purpose, as PyTorch's int|tuple
  IntPair(int64_t h_, int64_t w_) : h(h_), w(w_) {}
  bool operator==(const IntPair& o) const { return h == o.h && w == o.w; }
};

// x: [N, C_in, H, W]; weight: [C_out, C_in / groups, kH, kW]; bias: [C_out] or undefined.
// Output: [N, C_out, (H + 2*pad - dil*(kH-1) - 1) / stride + 1, same for W].
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              IntPair stride = 1, IntPair padding = 0, IntPair dilation = 1, int64_t groups = 1);

}  // namespace norma
