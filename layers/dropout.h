// Dropout(p): inverted dropout in training, identity in eval (core/ops/dropout.h).
#pragma once
#include "layers/module.h"

namespace norma::nn {

class Dropout : public Module {
 public:
  explicit Dropout(float p = 0.5f);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  float p;
};

}  // namespace norma::nn
