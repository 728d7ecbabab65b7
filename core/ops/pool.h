// 2-d pooling over [N, C, H, W].
#pragma once
#include "core/ops/conv.h"

namespace norma {

// stride 0 means stride = kernel_size (PyTorch's default). Padding adds -inf.
Tensor max_pool2d(const Tensor& x, IntPair kernel_size, IntPair stride = 0, IntPair padding = 0,
                  IntPair dilation = 1);
// count_include_pad: whether the zeros of the padding count in the average (PyTorch: true).
Tensor avg_pool2d(const Tensor& x, IntPair kernel_size, IntPair stride = 0, IntPair padding = 0,
                  bool count_include_pad = true);
// Output [N, C, oh, ow]; bins as PyTorch: rows floor(i*H/oh) to ceil((i+1)*H/oh).
Tensor adaptive_avg_pool2d(const Tensor& x, IntPair output_size);
// Mean over H and W: [N, C, H, W] -> [N, C].
Tensor global_avg_pool2d(const Tensor& x);

}  // namespace norma
