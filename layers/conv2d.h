// Conv2d, as torch.nn.Conv2d: weight [out, in / groups, kh, kw], optional bias [out].
#pragma once
#include "core/ops/conv.h"
#include "layers/module.h"

namespace norma::nn {

class Conv2d : public Module {
 public:
  // Weights kaiming_uniform_(a = sqrt(5)); bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  Conv2d(int64_t in_channels, int64_t out_channels, IntPair kernel_size, IntPair stride = 1, IntPair padding = 0,
         IntPair dilation = 1, int64_t groups = 1, bool bias = true);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  int64_t in_channels, out_channels;
  IntPair kernel_size, stride, padding, dilation;
  int64_t groups;
};

}  // namespace norma::nn
