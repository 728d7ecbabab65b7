// Santurkar et al. 2018's "noisy BatchNorm" (Sec. 2.1): a distributional shift injected after a
// norm layer, redrawn every training step, to test whether BN works by keeping each layer's input
// distribution fixed. Per channel c:
//   y[n, c, h, w] = s_c * x[n, c, h, w] + m_c + e[n, c, h, w],   e ~ N(mu_c, v_c) i.i.d.
//   s_c, v_c ~ U(1/b, b)      m_c, mu_c ~ U(-a, a)
// so every channel's mean and scale move by a random amount at every step, and each element
// gets Gaussian noise of a random mean and variance on top. In eval mode y = x.
//
// Backward: dx = s_c * dy (the noise is a constant of the step).
#pragma once
#include <memory>

#include "layers/module.h"

namespace norma::apps::experiments {

class ChannelNoise : public nn::Module {
 public:
  ChannelNoise(float a, float b);
  Tensor forward(const Tensor& x) override;  // x: [N, C, H, W]; draws from the default generator
  std::string extra_repr() const override;
  float a, b;
};

// Puts a ChannelNoise(a, b) after each of `model`'s children named bn1, bn2, ... (the vgg's
// norm layers, Identity for --norm none): each becomes Sequential(norm, noise).
void add_noise_after_norms(nn::Module& model, float a, float b);

}  // namespace norma::apps::experiments
