// Adaptive Instance Normalization (Huang & Belongie 2017):
//   AdaIN(content, style) = sigma(style) * (content - mu(content)) / sigma(content) + mu(style)
// with mu, sigma per sample and channel over the spatial dims (sigma = sqrt(var + eps), biased
// variance). Differentiable in both inputs. content, style: [N, C, H, W] (spatial sizes may
// differ).
#pragma once
#include "layers/module.h"

namespace norma::nn {

Tensor adain(const Tensor& content, const Tensor& style, float eps = 1e-5f);

class AdaIN : public Module {
 public:
  explicit AdaIN(float eps = 1e-5f) : Module("AdaIN"), eps(eps) {}
  Tensor forward(const Tensor& content, const Tensor& style);
  // Single-input call is an error: AdaIN needs a content and a style.
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  float eps;
};

}  // namespace norma::nn
