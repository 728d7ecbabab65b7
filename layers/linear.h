// Linear: y = x W^T + b, as torch.nn.Linear. W: [out_features, in_features].
#pragma once
#include "layers/module.h"

namespace norma::nn {

class Linear : public Module {
 public:
  // Weights kaiming_uniform_(a = sqrt(5)), i.e. U(-1/sqrt(in), 1/sqrt(in)); bias the same bound.
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  int64_t in_features, out_features;
};

}  // namespace norma::nn
