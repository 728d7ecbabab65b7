// The normalization factory: every model takes its norm layers from here, chosen by name, so
// one flag swaps the normalization of a whole network.
//
//   kind    make_norm2d (feature maps [N, C, H, W])      make_norm1d (features [N, C])
//   bn      BatchNorm2d(C)                               BatchNorm1d(C)
//   ghost   GhostBatchNorm(C, ghost_batch_size)          the same
//   sync    SyncBatchNorm(C)                             the same (statistics over N)
//   gn      GroupNorm(g, C), g = the largest divisor of C that is <= groups
//   ln      GroupNorm(1, C): LayerNorm over (C, H, W)    LayerNorm({C})
//           with a per-channel affine (Wu & He 2018's
//           "LN"; a LayerNorm({C, H, W}) would need the
//           spatial size up front and learn a weight per
//           pixel)
//   in      InstanceNorm2d(C, affine=true)               an error: one value per (sample, channel)
//   rms     RMSNorm2d(C) below: RMS over (C, H, W),      RMSNorm({C})
//           per-channel weight
//   none    Identity                                     Identity
//
// With `none` the layers that a norm would follow get a bias (conv_bias() says so), as a
// norm's shift makes a bias redundant otherwise.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "layers/module.h"

namespace norma::nn {

struct NormConfig {
  std::string kind = "bn";
  int64_t ghost_batch_size = 32;  // ghost: samples per virtual batch
  int64_t groups = 16;            // gn: the most groups to use
};

// The valid kinds, in the order of the table above.
const std::vector<std::string>& norm_kinds();
// Throws, listing the valid kinds, when config.kind is not one of them or an option is bad.
void check_norm_config(const NormConfig& config);
// Whether a layer followed by this norm needs its own bias (only for `none`).
bool conv_bias(const NormConfig& config);

// A norm for [N, C, H, W] feature maps with C channels.
std::shared_ptr<Module> make_norm2d(const NormConfig& config, int64_t channels);
// A norm for [N, C] features.
std::shared_ptr<Module> make_norm1d(const NormConfig& config, int64_t features);

// The number of groups `gn` uses for C channels: the largest divisor of C that is <= max_groups.
int64_t gn_groups(int64_t channels, int64_t max_groups);

// RMSNorm over (C, H, W) of each sample, with a per-channel weight (the RMS analogue of
// GroupNorm(1, C)):
//   y[n, c, h, w] = x[n, c, h, w] / sqrt(mean_{c,h,w} x[n]^2 + eps) * weight[c]
// The normalization is the fused rms_norm() over the trailing (C, H, W) dims with no weight;
// the per-channel weight is one broadcast multiply. eps unset: float32 epsilon, as RMSNorm.
class RMSNorm2d : public Module {
 public:
  explicit RMSNorm2d(int64_t num_channels, std::optional<float> eps = std::nullopt);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  int64_t num_channels;
  std::optional<float> eps;
};

}  // namespace norma::nn
