// GroupNorm (Wu & He 2018), as torch.nn.GroupNorm: the C channels of each sample are split
// into num_groups groups; statistics per (sample, group) over the group's channels and all
// spatial positions; per-channel affine.
#pragma once
#include "layers/module.h"

namespace norma::nn {

// x: [N, C, *]; weight/bias: [C] or undefined.
Tensor group_norm(const Tensor& x, int64_t num_groups, const Tensor& weight, const Tensor& bias, float eps = 1e-5f);

class GroupNorm : public Module {
 public:
  GroupNorm(int64_t num_groups, int64_t num_channels, float eps = 1e-5f, bool affine = true);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  int64_t num_groups, num_channels;
  float eps;
  bool affine;
};

}  // namespace norma::nn
