// Pooling modules over [N, C, H, W]: MaxPool2d, AvgPool2d, AdaptiveAvgPool2d.
#pragma once
#include "core/ops/pool.h"
#include "layers/module.h"

namespace norma::nn {

class MaxPool2d : public Module {
 public:
  // stride 0 = kernel_size, as PyTorch's default.
  explicit MaxPool2d(IntPair kernel_size, IntPair stride = 0, IntPair padding = 0, IntPair dilation = 1)
      : Module("MaxPool2d"), kernel_size(kernel_size), stride(stride), padding(padding), dilation(dilation) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  IntPair kernel_size, stride, padding, dilation;
};

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(IntPair kernel_size, IntPair stride = 0, IntPair padding = 0, bool count_include_pad = true)
      : Module("AvgPool2d"), kernel_size(kernel_size), stride(stride), padding(padding),
        count_include_pad(count_include_pad) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  IntPair kernel_size, stride, padding;
  bool count_include_pad;
};

class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(IntPair output_size) : Module("AdaptiveAvgPool2d"), output_size(output_size) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  IntPair output_size;
};

}  // namespace norma::nn
