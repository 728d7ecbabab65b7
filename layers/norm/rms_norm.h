// RMSNorm (Zhang & Sennrich 2019), as torch.nn.RMSNorm: no mean, no bias.
//   y = x / sqrt(mean(x^2) + eps) * weight       (mean over the trailing normalized_shape dims)
// eps unset: float32 machine epsilon, PyTorch's default (eps=None).
#pragma once
#include <optional>

#include "layers/module.h"

namespace norma::nn {

Tensor rms_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, float eps);

class RMSNorm : public Module {
 public:
  explicit RMSNorm(Shape normalized_shape, std::optional<float> eps = std::nullopt, bool elementwise_affine = true);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Shape normalized_shape;
  std::optional<float> eps;
  bool elementwise_affine;
};

}  // namespace norma::nn
