// LayerNorm (Ba, Kiros & Hinton 2016), as torch.nn.LayerNorm: statistics per sample over the
// trailing dims given by normalized_shape; elementwise affine of that shape.
//   y = (x - mean) / sqrt(var + eps) * weight + bias     (biased variance)
#pragma once
#include "layers/module.h"

namespace norma::nn {

// Fused, differentiable (torch.nn.functional.layer_norm); weight/bias may be undefined.
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  float eps = 1e-5f);

class LayerNorm : public Module {
 public:
  explicit LayerNorm(Shape normalized_shape, float eps = 1e-5f, bool elementwise_affine = true);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Shape normalized_shape;
  float eps;
  bool elementwise_affine;
};

}  // namespace norma::nn
